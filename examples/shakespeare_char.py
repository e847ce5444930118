"""Character-level language model on Tiny Shakespeare (Karpathy's char-rnn experiment).

The usual split: the first 90 % of the text for training, the last 10 % for validation.

    python examples/shakespeare_char.py            # about 10 minutes on 2 CPU cores
    python examples/shakespeare_char.py --minutes 2
"""

import argparse

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
parser.add_argument("--out", default="runs/shakespeare-char")
args = parser.parse_args()

rnnkit("lm", "train", "--data", data_file("tinyshakespeare", "input.txt"), "--out", args.out,
       "--time-limit", args.minutes)
rnnkit("lm", "sample", args.out, "--prime", "ROMEO:", "--length", 500, "--temperature", 0.8, "--seed", 1)
rnnkit("lm", "score", args.out, "To be, or not to be, that is the question.")
