"""``rnnkit diagnose memory`` and ``rnnkit diagnose clipping``: what training shows about memory and explosions.

``register(verbs)`` adds both verbs to the ``diagnose`` task's subparsers. Flag values are checked in the
handlers, so that every bad value is a one-line :class:`RnnkitError` naming the flag.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnnkit.cells import CELLS
from rnnkit.errors import RnnkitError


def register(verbs) -> None:
    from rnnkit.diagnostics.memory import DEFAULTS, TASKS

    memory = verbs.add_parser(
        "memory", help="accuracy against dependency length on a synthetic task, for each cell",
        description="Train each cell briefly (Adam, a fresh synthetic batch per step) on a task whose dependency "
        "length T is set exactly, evaluate on held-out sequences, and plot accuracy against T. A vanilla RNN "
        "learns the short lengths only; GRUs and LSTMs, their memory started open, reach the long ones. Writes "
        "DIR/memory.png and DIR/memory.json and prints the table.")
    memory.add_argument("--task", choices=TASKS, default="copy",
                        help="copy: recall the symbol shown T noisy steps earlier; adding: the sum of two values "
                        "marked T steps apart (Hochreiter & Schmidhuber 1997); brackets: name the bracket opened "
                        "T steps earlier, past a balanced filler (default: copy)")
    memory.add_argument("--cells", default="rnn,gru,lstm", help="comma-separated cells (default: rnn,gru,lstm)")
    memory.add_argument("--lengths", default="5,10,20,40,80",
                        help="comma-separated dependency lengths T (default: 5,10,20,40,80)")
    steps = ", ".join(f"{task} {d['steps']}" for task, d in DEFAULTS.items())
    lrs = ", ".join(f"{task} {d['lr']:g}" for task, d in DEFAULTS.items())
    memory.add_argument("--steps", type=int, help=f"Adam steps per cell and length (default: {steps})")
    memory.add_argument("--lr", type=float, help=f"Adam learning rate (default: {lrs})")
    memory.add_argument("--hidden", type=int, default=32, help="hidden size H (default: 32)")
    memory.add_argument("--batch-size", type=int, default=32, help="sequences per training batch (default: 32)")
    memory.add_argument("--gate-bias", type=float, default=3.0,
                        help="start the gated memory open: LSTM b_f = this, GRU b_u = −this, so σ(3) = 95%% of the "
                        "memory is kept per step; 0 keeps the uniform initialisation (default: 3)")
    memory.add_argument("--repeats", type=int, default=3,
                        help="train every cell and length from this many seeds (--seed, --seed + 1, …) and report "
                        "the mean accuracy (default: 3)")
    memory.add_argument("--seed", type=int, default=0, help="first seed of the weights and of the data (default: 0)")
    memory.add_argument("--out", required=True, metavar="DIR", help="directory to write into (created if missing)")
    memory.set_defaults(handler=run_memory)

    clipping = verbs.add_parser(
        "clipping", help="exploding gradients: the same unstable model trained without and with clipping",
        description="Train one deliberately unstable model (recurrent weights scaled up, plain SGD at a high "
        "learning rate, long sequences of the adding problem) three times from the same weights on the same "
        "batches: without clipping, clipped by global norm, clipped by value. Writes DIR/clipping.png (loss and "
        "pre-clip gradient norm against step) and DIR/clipping.json.")
    clipping.add_argument("--cell", default="rnn", help=f"one of {', '.join(CELLS)} (default: rnn)")
    clipping.add_argument("--scale", type=float, default=3.0,
                          help="multiply the recurrent weights W_aa by this (default: 3)")
    clipping.add_argument("--steps", type=int, default=200, help="SGD steps per run (default: 200)")
    clipping.add_argument("--clip-norm", type=float, default=1.0,
                          help="global-norm threshold of the 'norm' run (default: 1)")
    clipping.add_argument("--clip-value", type=float, default=0.5,
                          help="per-component threshold of the 'value' run (default: 0.5)")
    clipping.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default: 0.1)")
    clipping.add_argument("--length", type=int, default=50, help="sequence length T (default: 50)")
    clipping.add_argument("--hidden", type=int, default=32, help="hidden size H (default: 32)")
    clipping.add_argument("--seed", type=int, default=0, help="seed of the weights and of the data (default: 0)")
    clipping.add_argument("--out", required=True, metavar="DIR", help="directory to write into (created if missing)")
    clipping.set_defaults(handler=run_clipping)


def _cells(text: str, flag: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise RnnkitError(f"{flag} {text!r} names no cell: give a comma-separated list such as rnn,gru,lstm")
    unknown = [n for n in names if n not in CELLS]
    if unknown:
        raise RnnkitError(f"{flag}: unknown cell {', '.join(unknown)}: choose from {', '.join(CELLS)}")
    return names


def _lengths(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise RnnkitError(f"--lengths {text!r} is empty: give comma-separated positive integers such as 5,10,20")
    try:
        lengths = [int(p) for p in parts]
    except ValueError:
        raise RnnkitError(f"--lengths {text!r}: expected comma-separated positive integers such as 5,10,20") \
            from None
    if min(lengths) < 1:
        raise RnnkitError(f"--lengths {text!r}: every dependency length must be at least 1")
    return sorted(set(lengths))


def _positive(args, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise RnnkitError(f"--{name.replace('_', '-')} {value}: must be positive; give a number > 0")


def _out_dir(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"--out {text}: exists and is not a directory; give a directory (created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RnnkitError(f"--out {text}: cannot create the directory ({e.strerror}); choose another") from None
    return out


def run_memory(args) -> int:
    from rnnkit.diagnostics.memory import format_table, memory_experiment, plot_memory
    from rnnkit.fileio import atomic_write_json

    cells = _cells(args.cells, "--cells")
    lengths = _lengths(args.lengths)
    _positive(args, "steps", "lr", "hidden", "batch_size", "repeats")
    if args.gate_bias < 0:
        raise RnnkitError(f"--gate-bias {args.gate_bias}: must be >= 0 (0 keeps the uniform initialisation)")
    out = _out_dir(args.out)

    def progress(cell: str, T: int, accuracies: list[float]) -> None:
        each = ", ".join(f"{a:.2f}" for a in accuracies)
        print(f"  {cell} T={T}: accuracy {each}", file=sys.stderr, flush=True)

    result = memory_experiment(args.task, cells, lengths, steps=args.steps, hidden=args.hidden,
                               batch_size=args.batch_size, lr=args.lr, gate_bias=args.gate_bias, seed=args.seed,
                               repeats=args.repeats, progress=progress)
    print(format_table(result))
    runs = len(cells) * len(lengths) * args.repeats
    print(f"({runs} runs of {result.steps} steps in {result.seconds:.0f} s)")
    atomic_write_json(out / "memory.json", result.to_json())
    print(f"wrote {out / 'memory.json'}")
    if plot_memory(result, out / "memory.png"):
        print(f"wrote {out / 'memory.png'}")
    else:
        print("no picture: matplotlib is not installed (pip install matplotlib)", file=sys.stderr)
    return 0


def run_clipping(args) -> int:
    from rnnkit.diagnostics.clipping import clipping_experiment, format_summary, plot_clipping
    from rnnkit.fileio import atomic_write_json

    if args.cell not in CELLS:
        raise RnnkitError(f"--cell {args.cell!r}: unknown cell; choose one of {', '.join(CELLS)}")
    _positive(args, "scale", "steps", "clip_norm", "clip_value", "lr", "length", "hidden")
    out = _out_dir(args.out)
    result = clipping_experiment(args.cell, scale=args.scale, steps=args.steps, clip_norm=args.clip_norm,
                                 clip_value=args.clip_value, lr=args.lr, length=args.length, hidden=args.hidden,
                                 seed=args.seed)
    print(format_summary(result))
    atomic_write_json(out / "clipping.json", result.to_json())
    print(f"wrote {out / 'clipping.json'}")
    if plot_clipping(result, out / "clipping.png"):
        print(f"wrote {out / 'clipping.png'}")
    else:
        print("no picture: matplotlib is not installed (pip install matplotlib)", file=sys.stderr)
    return 0

