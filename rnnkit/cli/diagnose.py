"""``rnnkit diagnose gradients``: vanishing and exploding gradients, measured and drawn."""

from __future__ import annotations

import math

import torch

from rnnkit.cells import CELLS
from rnnkit.cli.args import positive_float, positive_int
from rnnkit.errors import RnnkitError
from rnnkit.layers import Recurrent


def register(tasks) -> None:
    diagnose = tasks.add_parser("diagnose", help="gradient flow through time",
                                description="Show vanishing and exploding gradients.")
    verbs = diagnose.add_subparsers(dest="verb", metavar="VERB", required=True)
    grads = verbs.add_parser(
        "gradients", help="‖∂L/∂x<t>‖ for a loss at the last step, for each cell",
        description="For each cell, how much of the gradient of a loss read at the last step reaches each earlier "
        "input x<t>. Vanilla RNNs lose it geometrically (vanishing); a recurrent weight scaled up makes it grow "
        "(exploding); GRUs and LSTMs keep it.")
    grads.add_argument("--cells", default="rnn,simple-gru,gru,lstm", help="comma-separated cells to compare")
    grads.add_argument("--hidden", type=positive_int, default=64, help="hidden size H (default: 64)")
    grads.add_argument("--input", type=positive_int, default=16, help="input size X (default: 16)")
    grads.add_argument("--length", type=positive_int, default=50, help="sequence length T (default: 50)")
    grads.add_argument("--scale", type=positive_float, default=1.0,
                       help="multiply recurrent weights by this (e.g. 3 to see exploding gradients)")
    grads.add_argument("--forget-bias", type=float, default=None,
                       help="LSTM: start the forget gate at σ(b_f) (e.g. 3) to keep the memory path open")
    grads.add_argument("--seed", type=int, default=0)
    grads.add_argument("--out", default="gradient_flow.png", help="PNG to write (default: gradient_flow.png)")
    grads.set_defaults(handler=gradients)


def gradients(args) -> int:
    from rnnkit.diagnostics import input_gradient_norms, plot_gradient_flow

    names = [n.strip() for n in args.cells.split(",") if n.strip()]
    unknown = [n for n in names if n not in CELLS]
    if unknown or not names:
        raise RnnkitError(f"unknown cell(s) {unknown or names}: choose from {', '.join(CELLS)}")
    curves = {}
    x = torch.randn(args.length, 8, args.input, generator=torch.Generator().manual_seed(args.seed))
    for name in names:
        torch.manual_seed(args.seed)
        options = {"forget_bias": args.forget_bias} if "lstm" in name and args.forget_bias is not None else {}
        layer = Recurrent(CELLS[name], args.input, args.hidden, **options)
        with torch.no_grad():
            for p_name, p in layer.named_parameters():
                if p_name.split(".")[-1].startswith("W_"):
                    p[:, : args.hidden] *= args.scale
        curves[name] = input_gradient_norms(layer, x, seed=args.seed)
    print(f"{'cell':<14}{'‖∂L/∂x<T>‖':>14}{'‖∂L/∂x<1>‖':>14}{'decades lost':>14}")
    for name, norms in curves.items():
        first, last = float(norms[0]), float(norms[-1])
        lost = math.log10(last / first) if first > 0 and last > 0 else math.inf
        print(f"{name:<14}{last:>14.3e}{first:>14.3e}{lost:>14.1f}")
    plot_gradient_flow(curves, args.out, title=f"gradient flow through T = {args.length} steps")
    print(f"wrote {args.out}")
    return 0
