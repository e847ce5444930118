"""Music quality on pieces the model never saw: test NLL per frame with the defaults of ``rnnkit music train``
on the JSB Chorales and on a sister corpus in the same ``mat`` layout, beside the independent-Bernoulli
baseline.

    python benchmarks/music_quality.py [--only jsb palestrina] [--out benchmarks/out/music] [-- extra train flags]

``jsb`` runs ``examples/music_jsb.py`` (train on the training chorales, the validation ones pick the best
checkpoint, score the test ones). ``palestrina`` makes the sister set with ``examples/palestrina_to_mat.py``
(300 Palestrina movements from music21's corpus at one frame per half note, 60/20/20; about 6 minutes the first
time, then reused) and trains on it with the same defaults, unchanged. Prints a table with the CPU model.
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
BARS = {"jsb": (8.30, 8.05), "palestrina": (None, None)}


def _rnnkit(*argv) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rnnkit", *map(str, argv)]
    print("$", " ".join(cmd[2:]), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(cmd[2:4])} failed with status {done.returncode}")
    return done


def _train_and_score(data: Path, run_dir: Path, extra: list[str]) -> dict:
    _rnnkit("music", "train", "--data", data, "--out", run_dir, "--quiet", *extra)
    result = json.loads(_rnnkit("music", "eval", run_dir, "--data", data, "--split", "test", "--json")
                        .stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    result["train_minutes"] = max(r.get("time", 0) for r in records) / 60
    result["best_valid"] = min(r["valid_nll_per_frame"] for r in records if "valid_nll_per_frame" in r)
    result["epochs"] = max(r.get("epoch", 0) for r in records) + 1
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BARS), default=list(BARS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "music"))
    args, extra = parser.parse_known_args()
    extra = [e for e in extra if e != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    rows = {}
    if "jsb" in args.only:
        jsb = ROOT.parent / "shared" / "data" / "jsb_chorales" / "jsb-chorales-quarter.json"
        if not jsb.exists():
            raise SystemExit(f"{jsb} is missing: this benchmark reads the public data sets in ../shared/data")
        rows["jsb"] = _train_and_score(jsb, out / f"jsb-{stamp}", extra)
    if "palestrina" in args.only:
        mat = out / "palestrina.mat"
        if not mat.exists():
            subprocess.run([sys.executable, str(ROOT / "examples" / "palestrina_to_mat.py"), "--out", str(mat)],
                           check=True)
        rows["palestrina"] = _train_and_score(mat, out / f"palestrina-{stamp}", extra)
    print(f"\nCPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads; flags: "
          f"{' '.join(extra) or 'the defaults'}")
    print(f"{'data':<11} {'test NLL/frame':>14} {'bar':>5} {'aim':>5} {'Bernoulli':>9} {'frame acc':>9} "
          f"{'valid NLL':>9} {'epochs':>6} {'minutes':>7}")
    for name, r in rows.items():
        bar, aim = BARS[name]
        print(f"{name:<11} {r['nll_per_frame']:14.3f} {bar or '':>5} {aim or '':>5} "
              f"{r['bernoulli_nll_per_frame']:9.3f} {r['frame_accuracy']:9.3f} {r['best_valid']:9.3f} "
              f"{r['epochs']:6d} {r['train_minutes']:7.1f}")


if __name__ == "__main__":
    main()
