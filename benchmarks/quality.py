"""Quality per CPU-minute: character-level Tiny Shakespeare, validation loss against wall-clock minutes.

Trains rnnkit's default ``lm train`` configuration from scratch for a time budget on the usual split (first
90 % train, last 10 % validation), and optionally, in the same run, the plain ``torch.nn.LSTM`` char-rnn
recipe (2×256, embedding 64, B=64, T=100, Adam 2e-3, clip 5, no dropout) under the same budget, so the
two numbers come from the same machine in the same state.

    python benchmarks/quality.py --minutes 10 [--baseline] [-- extra 'rnnkit lm train' flags]

Prints a table of validation loss (nats/char) by minute and writes ``benchmarks/out/quality.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
OUT = ROOT / "benchmarks" / "out"


def run_rnnkit(minutes: float, extra: list[str]) -> list[tuple[float, float]]:
    run = OUT / f"quality-{time.strftime('%H%M%S')}"
    cmd = [sys.executable, "-m", "rnnkit", "lm", "train", "--data", str(DATA), "--out", str(run), "--valid-fraction",
           "0.1", "--time-limit", str(minutes), "--steps", "1000000", "--quiet", *extra]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["time"] / 60, r["valid_loss"]) for r in records if "valid_loss" in r]


def run_baseline(minutes: float, eval_every_s: float = 60.0) -> list[tuple[float, float]]:
    """The plain torch.nn.LSTM char-rnn recipe, evaluated on the full validation split."""
    torch.manual_seed(0)
    text = DATA.read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text])
    n = int(len(ids) * 0.9)
    train, valid = ids[:n], ids[n:]
    V, B, T = len(chars), 64, 100

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, 64)
            self.lstm = nn.LSTM(64, 256, 2, batch_first=True)
            self.out = nn.Linear(256, V)

        def forward(self, x, state=None):
            y, state = self.lstm(self.emb(x), state)
            return self.out(y), state

    model = CharRNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    L = (len(train) - 1) // B
    rows = train[: B * L + 1]

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        vb, total, count, state = 32, 0.0, 0, None
        vl = (len(valid) - 1) // vb
        for k in range(vl // T):
            x = torch.stack([valid[b * vl + k * T: b * vl + k * T + T] for b in range(vb)])
            y = torch.stack([valid[b * vl + k * T + 1: b * vl + k * T + T + 1] for b in range(vb)])
            logits, state = model(x, state)
            total += float(nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="sum"))
            count += y.numel()
        model.train()
        return total / count

    curve, start, next_eval, state, k = [], time.perf_counter(), eval_every_s, None, 0
    while time.perf_counter() - start < minutes * 60:
        if k >= L // T:
            k, state = 0, None
        x = torch.stack([rows[b * L + k * T: b * L + k * T + T] for b in range(B)])
        y = torch.stack([rows[b * L + k * T + 1: b * L + k * T + T + 1] for b in range(B)])
        k += 1
        state = None if state is None else tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if time.perf_counter() - start >= next_eval:
            curve.append(((time.perf_counter() - start) / 60, evaluate()))
            next_eval += eval_every_s
    curve.append(((time.perf_counter() - start) / 60, evaluate()))
    return curve


def plot(curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, curve in curves.items():
        ax.plot(*zip(*curve), marker="o", markersize=3, label=name)
    ax.axhline(1.45, color="gray", linestyle="--", linewidth=1, label="target 1.45")
    ax.set_xlabel("wall-clock minutes (2 CPU cores)")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title("Tiny Shakespeare, character level")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--baseline", action="store_true", help="also run the torch.nn.LSTM recipe")
    parser.add_argument("extra", nargs="*", help="extra flags for rnnkit lm train (after --)")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"{DATA} is missing", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    curves = {"rnnkit default": run_rnnkit(args.minutes, args.extra)}
    if args.baseline:
        curves["torch.nn.LSTM recipe"] = run_baseline(args.minutes)
    print(f"\n{'configuration':<24}{'best valid loss':>16}{'at minute':>11}")
    for name, curve in curves.items():
        minute, best = min(curve, key=lambda p: p[1])
        print(f"{name:<24}{best:>16.4f}{minute:>11.1f}")
    best = min(v for _, v in curves["rnnkit default"])
    print(f"\ntarget: validation loss <= 1.45 within {args.minutes:g} minutes: "
          f"{'PASS' if best <= 1.45 else 'FAIL'} ({best:.4f}; {best / math.log(2):.3f} bits/char)")
    plot(curves, OUT / "quality.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
