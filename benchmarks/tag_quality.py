"""Tagging quality on data the model never saw: WNUT-17 with the defaults of ``rnnkit tag train``, and the
same model with the softmax decoder instead of the CRF.

    python benchmarks/tag_quality.py [--only crf softmax] [--out benchmarks/out/tag] [-- extra train flags]

Runs ``examples/tag_wnut17.py`` (train on the training tweets, a tenth held out for the best checkpoint;
score the development tweets), reads the entity metrics from ``eval --json`` and the training time from the
run's ``metrics.jsonl``, and prints a table with the CPU model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from _common import cpu_model

ROOT = Path(__file__).resolve().parents[1]
BAR = 0.28
VARIANTS = {"crf": [], "softmax": ["--decoder", "softmax"]}


def run(name: str, out: Path, extra: list[str]) -> dict:
    run_dir = out / f"wnut17-{name}-{time.strftime('%H%M%S')}"
    cmd = [sys.executable, str(ROOT / "examples" / "tag_wnut17.py"), "--out", str(run_dir), "--quiet",
           *VARIANTS[name], *extra]
    print("$", " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"tag_wnut17.py failed with status {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    result["train_minutes"] = max(r.get("time", 0) for r in records) / 60
    result["best_valid_f1"] = max(r["valid_f1"] for r in records if "valid_f1" in r)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "tag"))
    args, extra = parser.parse_known_args()
    extra = [e for e in extra if e != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {name: run(name, out, extra) for name in args.only}
    print(f"\nCPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'decoder':<8} {'dev P':>6} {'dev R':>6} {'dev F1':>7} {'bar':>5} {'held-out F1':>12} {'minutes':>8}")
    for name, r in rows.items():
        print(f"{name:<8} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:7.3f} {BAR:5.2f} "
              f"{r['best_valid_f1']:12.3f} {r['train_minutes']:8.1f}")
    if "crf" in rows and "softmax" in rows:
        print(f"CRF − softmax, dev entity F1: {rows['crf']['f1'] - rows['softmax']['f1']:+.3f}")


if __name__ == "__main__":
    main()
