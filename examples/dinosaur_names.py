"""The dinosaur-name generator: a character-level model of one name per line.

Each line ends with <EOS> (``--eos line``), so a sample is one name and sampling stops at its end.

    python examples/dinosaur_names.py
"""

import argparse

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=1500)
parser.add_argument("--out", default="runs/dinos")
args = parser.parse_args()

rnnkit("lm", "train", "--data", data_file("dinos", "dinos.txt"), "--out", args.out, "--eos", "line",
       "--cell", "gru", "--hidden", 128, "--layers", 1, "--embedding", 0, "--batch-size", 32, "--seq-len", 25,
       "--steps", args.steps, "--eval-every", 250, "--save-every", 250, "--sample-length", 60)
rnnkit("lm", "sample", args.out, "--num", 10, "--temperature", 0.8, "--seed", 1)
rnnkit("lm", "score", args.out, "Tyrannosaurus", "Xqzzkw")
