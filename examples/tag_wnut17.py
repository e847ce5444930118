"""Named entities in tweets (many-to-many, T_x = T_y): WNUT-17 emerging entities, 6 types, IOB2.

Trains with the defaults of ``rnnkit tag train`` on the WNUT-17 training tweets (a tenth held out at random to
pick the best checkpoint), then scores the development tweets, which the model never saw and whose entities
are mostly new ("emerging"): entity precision, recall and F1 as conlleval counts them, per type.

    python examples/tag_wnut17.py [--out runs/wnut17] [extra 'rnnkit tag train' flags, e.g. --decoder softmax]
"""

import argparse
from pathlib import Path

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/wnut17")
args, extra = parser.parse_known_args()

rnnkit("tag", "train", "--data", data_file("wnut17", "wnut17train.conll"), "--out", args.out, *extra)
rnnkit("tag", "eval", args.out, "--data", data_file("wnut17", "emerging.dev.conll"), "--output",
       Path(args.out) / "dev-predictions.txt", "--json")
