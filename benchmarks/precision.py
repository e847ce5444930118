"""``--precision bf16`` against float32: training speed and validation loss of a character language model.

    python benchmarks/precision.py                  # LSTM 2×512, B 64, T 100 (a few minutes on 2 cores)
    python benchmarks/precision.py --steps 20       # a shorter quality run
    python benchmarks/precision.py --cell gru       # a cell that runs on rnnkit's float32 engine

Speed: one model and optimizer, training steps (forward + backward + Adam on the embedded corpus' batches)
alternating between float32 and bf16 autocast (fp32, bf16, fp32, …) after a warm-up, each side's median step
time taken, so a machine busy with something else slows both alike; tokens/s = T·B / median step time.

Quality: two ``rnnkit lm train`` runs of ``--steps`` steps from the same seed, one per precision, and the
validation loss (nats/token, evaluated in float32 by the trainer) after the last step. Their difference is
set beside the difference between two float32 runs of different seeds (``--seeds 2``), the noise any change
of rounding order brings.

The table also says which engine ran the recurrent layers: under autocast only torch's fused LSTM kernel
computes in bfloat16; rnnkit's own engine (compiled loops, hand-written BPTT) stays float32.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import cpu_model  # noqa: E402
from rnnkit.cli.main import main  # noqa: E402
from rnnkit.data import Vocab, default_corpus, tokenize  # noqa: E402
from rnnkit.engine.torch_lstm import lends_stack_to_torch  # noqa: E402
from rnnkit.losses import sequence_cross_entropy  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402
from rnnkit.training.precision import autocast, check_precision  # noqa: E402


def batches(B: int, T: int, n: int) -> tuple[list[torch.Tensor], int]:
    """``n`` batches (B, T + 1) of character ids of the embedded corpus, and its vocabulary size."""
    text = default_corpus()
    vocab = Vocab.build(tokenize(text, "char"), "char")
    ids = torch.tensor(vocab.encode(tokenize(text, "char")), dtype=torch.long)
    starts = torch.randint(0, len(ids) - T - 1, (n, B), generator=torch.Generator().manual_seed(0))
    return [torch.stack([ids[s:s + T + 1] for s in row.tolist()]) for row in starts], len(vocab)


def step_times(cell: str, H: int, L: int, B: int, T: int, reps: int) -> tuple[dict[str, float], str]:
    """Median seconds per training step for each precision, measured alternately; and the engine's name."""
    data, V = batches(B, T, 4)
    torch.manual_seed(0)
    model = LanguageModel(V, H, num_layers=L, cell=cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    engine = ("torch's fused LSTM kernel (bfloat16 under autocast)" if lends_stack_to_torch(model.rnn, None, B)
              else "rnnkit's engine (float32 under autocast)")

    def step(precision: str, ids: torch.Tensor) -> None:
        with autocast(precision, "cpu"):
            logits, _ = model(ids[:, :-1])
            loss = sequence_cross_entropy(logits, ids[:, 1:], batch_first=True)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for rep in range(reps + 2):
        for precision in times:
            start = time.perf_counter()
            step(precision, data[rep % len(data)])
            if rep >= 2:                                             # two warm-up rounds
                times[precision].append(time.perf_counter() - start)
    return {p: statistics.median(t) for p, t in times.items()}, engine


def valid_loss(precision: str, seed: int, cell: str, H: int, L: int, B: int, T: int, steps: int, out: Path) -> float:
    """The validation loss after ``steps`` steps of ``rnnkit lm train`` on the embedded corpus."""
    run = out / f"{precision}-{seed}"
    argv = ["lm", "train", "--out", str(run), "--cell", cell, "--hidden", str(H), "--layers", str(L),
            "--batch-size", str(B), "--seq-len", str(T), "--steps", str(steps), "--eval-every", str(steps),
            "--save-every", str(steps), "--seed", str(seed), "--precision", precision, "--quiet",
            "--sample-length", "0", "--cache-dir", str(out / "cache")]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        if main(argv) != 0:
            raise SystemExit(f"rnnkit {' '.join(argv)} failed: {err.getvalue()}")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["valid_loss"] for r in records if "valid_loss" in r][-1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="lstm", help="recurrent cell (default: lstm)")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size H (default: 512)")
    parser.add_argument("--layers", type=int, default=2, help="layers L (default: 2)")
    parser.add_argument("--batch-size", type=int, default=64, help="B (default: 64)")
    parser.add_argument("--seq-len", type=int, default=100, help="T (default: 100)")
    parser.add_argument("--reps", type=int, default=6, help="timed steps per precision (default: 6)")
    parser.add_argument("--steps", type=int, default=60, help="steps of each quality run (default: 60; 0: none)")
    parser.add_argument("--seeds", type=int, default=2, help="float32 runs of different seeds, for the noise "
                        "between seeds (default: 2)")
    return parser.parse_args()


def run() -> None:
    args = parse_args()
    check_precision("bf16", torch.device("cpu"))     # a clear message where this CPU has no bfloat16
    H, L, B, T = args.hidden, args.layers, args.batch_size, args.seq_len
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.cell.upper()} {L}×{H}, B {B}, T {T}: character language model on the embedded corpus")
    times, engine = step_times(args.cell, H, L, B, T, args.reps)
    print(f"recurrent layers ran on {engine}\n")
    print(f"{'precision':<10}{'tokens/s':>10}{'ratio':>8}")
    for p in ("fp32", "bf16"):
        print(f"{p:<10}{T * B / times[p]:>10.0f}{times['fp32'] / times[p]:>7.2f}×")
    if args.steps <= 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        losses = {p: valid_loss(p, 1234, args.cell, H, L, B, T, args.steps, Path(tmp)) for p in ("fp32", "bf16")}
        others = [valid_loss("fp32", 1234 + k, args.cell, H, L, B, T, args.steps, Path(tmp))
                  for k in range(1, args.seeds)]
    print(f"\nvalidation loss after {args.steps} steps (nats/token, seed 1234)")
    gap = losses["bf16"] - losses["fp32"]
    print(f"  fp32 {losses['fp32']:.4f}   bf16 {losses['bf16']:.4f}   bf16 − fp32 {gap:+.4f}")
    for k, loss in enumerate(others, 1):
        print(f"  fp32 with seed {1234 + k}: {loss:.4f} ({loss - losses['fp32']:+.4f}: the noise between seeds)")


if __name__ == "__main__":
    run()
