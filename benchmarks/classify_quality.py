"""Classification quality on data the model never saw: the four worked examples, each from scratch with the
defaults of ``rnnkit classify train`` (only data, format, column and ``--level`` flags given).

    python benchmarks/classify_quality.py [--only sst2 splice hapt msr] [--out benchmarks/out/classify]
                                          [-- extra 'rnnkit classify train' flags, e.g. --pooling attention]

Runs ``examples/classify_*.py``, reads the test metrics from each ``eval --json`` and the training time from
the run's ``metrics.jsonl``, and prints a table with the CPU model.
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
EXAMPLES = {
    "sst2": ("classify_sst2.py", "SST-2 (words)", "dev (unseen; validation on 872 held out from train)", 0.82),
    "splice": ("classify_splice.py", "splice junctions (bases)", "20 % held-out sequences", 0.95),
    "hapt": ("classify_hapt.py", "HAPT six activities (sensors)", "6 unseen volunteers", 0.91),
    "msr": ("classify_msr_action3d.py", "MSR Action3D 20 actions (skeletons)", "unseen subjects 7, 9", 0.75),
}


def run_example(name: str, out: Path, extra: list[str]) -> dict:
    script, *_ = EXAMPLES[name]
    run = out / f"{name}-{time.strftime('%H%M%S')}"
    cmd = [sys.executable, str(ROOT / "examples" / script), "--out", str(run), "--quiet", *extra]
    print("$", " ".join(cmd[1:]), flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{script} failed with status {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    result["train_minutes"] = max(r.get("time", 0) for r in records) / 60
    result["steps"] = max(r["step"] for r in records)
    result["wall_minutes"] = wall / 60
    result["run"] = str(run)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(EXAMPLES), default=list(EXAMPLES))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "classify"))
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only:
        result = run_example(name, out, extra)
        rows.append((name, result))
        print(json.dumps({"example": name, **result}), flush=True)
    print(f"\nCPU: {cpu_model()}; torch {torch.__version__}; {torch.get_num_threads()} threads"
          + (f"; extra flags: {' '.join(extra)}" if extra else ""))
    print("| data | test split | accuracy | macro-F1 | bar | training minutes | steps |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        _, what, split, bar = EXAMPLES[name]
        mark = "✓" if r["accuracy"] >= bar else "✗"
        print(f"| {what} | {split} | {r['accuracy']:.4f} {mark} | {r['macro_f1']:.4f} | ≥ {bar} | "
              f"{r['train_minutes']:.1f} | {r['steps']} |")


if __name__ == "__main__":
    main()
