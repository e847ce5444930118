"""Word-level language model on Tiny Shakespeare, with sentence (line) ends and <UNK> for rare words.

    python examples/shakespeare_words.py
"""

import argparse

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--minutes", type=float, default=5.0)
parser.add_argument("--out", default="runs/shakespeare-words")
args = parser.parse_args()

rnnkit("lm", "train", "--data", data_file("tinyshakespeare", "input.txt"), "--out", args.out,
       "--level", "word", "--eos", "line", "--min-freq", 3, "--hidden", 256, "--embedding", 128,
       "--seq-len", 35, "--batch-size", 32, "--time-limit", args.minutes, "--steps", 20000)
rnnkit("lm", "sample", args.out, "--prime", "KING HENRY", "--length", 60, "--num", 3, "--temperature", 0.8,
       "--seed", 1)
rnnkit("lm", "score", args.out, "I love thee .", "thee love I .")
