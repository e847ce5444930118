"""Peak memory of ``rnnkit lm train`` against corpus size: token ids stream from a memory-mapped cache, so the
peak RSS should stay flat while the corpus grows tenfold.

Run: ``python benchmarks/memory.py [--sizes-mb 5 50] [--steps 5]``. Each size is a fresh synthetic corpus
(random words, one file) in a temporary folder, trained on for a few steps in a child process, with its own
empty id cache (so the vocabulary pass, the encoding pass and training are all measured). Peak RSS is the
child's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [w for w in "the of and to in is was for on that with as by at from his her an were are which this be "
         "or has had not but first one their its new after who they two have been other when there all "
         "during into school time may years more most only over city some world would where later up such "
         "used many can state about national out known university united then made".split()]


def make_corpus(path: Path, megabytes: float, seed: int = 0) -> None:
    """Random words in lines of 5-15 words, with some punctuation and digits, until ``megabytes`` MB."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            lines = []
            for _ in range(1000):
                words = rng.choices(WORDS, k=rng.randint(5, 15))
                lines.append(" ".join(words) + rng.choice([".", ",", "!", "?", f" {rng.randint(0, 999)}."]) + "\n")
            block = "".join(lines)
            f.write(block)
            written += len(block)


def peak_rss_mb(argv: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child process (run from a fresh fork so ru_maxrss is its own)."""
    probe = ("import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:]); "
             "print(json.dumps([r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, check=True)
    code, kb = json.loads(out.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"training failed ({code}):\n{out.stderr}")
    return kb / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[5, 50])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--level", choices=("char", "word"), default="char")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        for size in args.sizes_mb:
            corpus = tmp / f"corpus-{size:g}MB.txt"
            make_corpus(corpus, size)
            argv = [sys.executable, "-m", "rnnkit", "lm", "train", "--data", str(corpus), "--out",
                    str(tmp / f"run-{size:g}"), "--cache-dir", str(tmp / f"cache-{size:g}"), "--level", args.level,
                    "--steps", str(args.steps), "--hidden", "64", "--layers", "1", "--batch-size", "8",
                    "--seq-len", "64", "--eval-batches", "2", "--quiet", "--sample-length", "0"]
            rss, seconds = peak_rss_mb(argv, env)
            rows.append((size, corpus.stat().st_size / 1e6, rss, seconds))
    base = rows[0][2]
    print(f"rnnkit lm train --level {args.level} --steps {args.steps} (hidden 64, batch 8 x 64), peak RSS of the "
          f"training process; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'corpus (MB)':>12} {'peak RSS (MB)':>14} {'RSS / smallest':>15} {'wall (s)':>9}")
    for _, mb, rss, seconds in rows:
        print(f"{mb:12.1f} {rss:14.1f} {rss / base:15.2f} {seconds:9.1f}")
    print(f"corpus grew {rows[-1][1] / rows[0][1]:.1f}x; peak RSS grew {rows[-1][2] / base:.2f}x")


if __name__ == "__main__":
    main()
