"""``rnnkit diagnose …``: gradient flow through time, gate saturation, activation maps, memory and clipping."""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.cells import CELLS
from rnnkit.cli.args import positive_float, positive_int
from rnnkit.errors import RnnkitError
from rnnkit.layers import Recurrent


def register(tasks) -> None:
    from rnnkit.cli import diagnose_inside, diagnose_training

    diagnose = tasks.add_parser("diagnose", help="gradient flow, gates, activations, memory, clipping",
                                description="See what happens inside a recurrent network: vanishing and exploding "
                                "gradients, gates at work, what units track.")
    verbs = diagnose.add_subparsers(dest="verb", metavar="VERB", required=True)
    grads = verbs.add_parser(
        "gradients", help="‖∂L/∂a<t>‖ (and ‖∂L/∂c<t>‖) per layer for a loss at the last step",
        description="How much of the gradient of a loss read at the last step T reaches each earlier state a<t> "
        "(and the LSTM's memory c<t>), per layer: for trained RUNs on batches of their data (language models, "
        "classifiers; synthetic inputs for the other tasks' layers), or for untrained cells. Vanilla RNNs lose "
        "it geometrically (vanishing); a recurrent weight scaled up makes it grow (exploding); GRUs and LSTMs "
        "keep it. Writes DIR/gradient-flow.png and DIR/gradient-flow.json.")
    grads.add_argument("runs", nargs="*", default=(), metavar="RUN",
                       help="trained run directories (default: untrained --cells)")
    grads.add_argument("--data", nargs="+", metavar="FILE", help="RUN: the text or examples to read (default: "
                       "the run's training files; the default corpus for a language model trained on it)")
    grads.add_argument("--cells", default="rnn,simple-gru,gru,lstm", help="without RUN: comma-separated cells "
                       "to compare (default: rnn,simple-gru,gru,lstm)")
    grads.add_argument("--hidden", type=positive_int, default=64, help="without RUN: hidden size H (default: 64)")
    grads.add_argument("--layers", type=positive_int, default=1, help="without RUN: layers L (default: 1)")
    grads.add_argument("--input", type=positive_int, default=16, help="without RUN: input size X (default: 16)")
    grads.add_argument("--length", type=positive_int, default=50, help="sequence length T (default: 50)")
    grads.add_argument("--batch", type=positive_int, default=8, help="sequences averaged over (default: 8)")
    grads.add_argument("--scale", type=positive_float, default=1.0,
                       help="without RUN: multiply recurrent weights by this (e.g. 3 to see exploding gradients)")
    grads.add_argument("--forget-bias", type=float, default=None,
                       help="without RUN: LSTM: start the forget gate at σ(b_f) (e.g. 3) to keep the memory open")
    grads.add_argument("--seed", type=int, default=0, help="inputs, windows and initialisation (default: 0)")
    grads.add_argument("--out", default="gradient-flow", metavar="DIR",
                       help="folder for gradient-flow.png and gradient-flow.json (default: gradient-flow)")
    grads.set_defaults(handler=gradients)
    diagnose_inside.register(verbs)
    diagnose_training.register(verbs)


def _untrained(args) -> list[tuple[str, str, Recurrent, torch.Tensor, str]]:
    from rnnkit.diagnostics.clipping import scale_recurrent_weights

    names = [n.strip() for n in args.cells.split(",") if n.strip()]
    unknown = [n for n in names if n not in CELLS]
    if unknown or not names:
        raise RnnkitError(f"--cells: unknown cell(s) {', '.join(unknown) or repr(args.cells)}; choose from "
                          f"{', '.join(CELLS)}")
    x = torch.randn(args.length, args.batch, args.input, generator=torch.Generator().manual_seed(args.seed))
    out = []
    for name in names:
        torch.manual_seed(args.seed)
        options = {"forget_bias": args.forget_bias} if "lstm" in name and args.forget_bias is not None else {}
        layer = Recurrent(CELLS[name], args.input, args.hidden, num_layers=args.layers, **options)
        scale_recurrent_weights(layer, args.scale)
        out.append((name, "", layer, x, f"untrained, N(0, 1) inputs, recurrent weights × {args.scale:g}"))
    return out


def _trained(args) -> list[tuple[str, str, Recurrent, torch.Tensor, str]]:
    from rnnkit.diagnostics.run_inputs import run_layers

    if args.scale != 1.0 or args.forget_bias is not None:
        raise RnnkitError("--scale and --forget-bias change untrained cells; a RUN is diagnosed as trained")
    out = []
    for run in args.runs:
        for item in run_layers(run, args.data, args.length, args.batch, args.seed):
            x = item.x if item.layer.batch_first else item.x.transpose(0, 1)
            out.append((Path(run).name, item.name, item.layer, x, item.source))
    return out


def gradients(args) -> int:
    from rnnkit.diagnostics import decades_lost, plot_gradient_flow, state_gradient_norms

    models = _trained(args) if args.runs else _untrained(args)
    out = Path(args.out)
    if out.suffix.lower() == ".png":
        raise RnnkitError(f"--out {out}: --out is a folder (gradient-flow.png and .json are written in it); "
                          f"give e.g. --out {out.with_suffix('')}")
    curves, table = {}, []
    runs = {m[0] for m in models}
    print(f"{'curve':<44}{'‖∂L/∂s<T>‖':>12}{'‖∂L/∂s<1>‖':>12}{'decades':>9}")
    for model, part, layer, x, source in models:
        for curve in state_gradient_norms(layer, x, seed=args.seed):
            modules = sum(m[0] == model for m in models)
            label = ": ".join(p for p in (model if len(runs) > 1 or not args.runs else "",
                                          part if modules > 1 else "", curve.name) if p)
            curves[label] = curve.norms
            lost = decades_lost(curve.norms)
            table.append({"model": model, "layer_module": part or None, "layer": curve.layer,
                          "direction": curve.direction, "state": curve.state, "input": source,
                          "norms": [float(v) for v in curve.norms],
                          "decades_lost": lost if lost != float("inf") else None})
            print(f"{label:<44}{float(curve.norms[-1]):>12.3e}{float(curve.norms[0]):>12.3e}{lost:>9.1f}")
    out.mkdir(parents=True, exist_ok=True)
    T = args.length
    title = (f"gradient flow through T = {T} steps: {', '.join(Path(r).name for r in args.runs)}" if args.runs
             else f"gradient flow through T = {T} steps, untrained cells (H = {args.hidden})")
    wrote = []
    if plot_gradient_flow(curves, out / "gradient-flow.png", title=title,
                          ylabel="‖∂L/∂a<t>‖, ‖∂L/∂c<t>‖ (batch mean, log scale)"):
        wrote.append(out / "gradient-flow.png")
    from rnnkit.fileio import atomic_write_json

    atomic_write_json(out / "gradient-flow.json", {"length": T, "batch": args.batch, "seed": args.seed,
                                                   "loss": "L = r · y<T>, r a fixed random unit vector",
                                                   "curves": table})
    wrote.append(out / "gradient-flow.json")
    print("wrote " + ", ".join(map(str, wrote)))
    return 0
