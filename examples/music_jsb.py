"""Polyphonic music (one-to-many): a next-frame model of the JSB Chorales, and a new chorale drawn from it.

Trains with the defaults of ``rnnkit music train`` on the 229 training chorales (the validation part, 76
chorales, picks the best checkpoint), scores the 77 test chorales the model never saw — negative
log-likelihood per frame, as the literature reports it, beside the independent-Bernoulli baseline — then draws
a chorale of 64 quarter notes from a 4-frame primer taken from the test part's first chorale, written as MIDI
and as a piano-roll picture.

    python examples/music_jsb.py [--out runs/jsb] [--picture docs/music-jsb-chorale.png] [extra train flags]
"""

import argparse
import json
import shutil
from pathlib import Path

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/jsb")
parser.add_argument("--picture", help="also copy the generated chorale's piano roll here")
args, extra = parser.parse_known_args()

jsb = data_file("jsb_chorales", "jsb-chorales-quarter.json")
rnnkit("music", "train", "--data", jsb, "--out", args.out, *extra)
rnnkit("music", "eval", args.out, "--data", jsb, "--split", "test", "--json")

# a 4-frame primer: the opening of the first test chorale
primer = Path(args.out) / "primer.json"
opening = json.loads(jsb.read_text())["test"][0][:4]
primer.write_text(json.dumps({"train": [opening]}))
pieces = Path(args.out) / "generated"
rnnkit("music", "generate", args.out, "--out", pieces, "--num", "4", "--length", "64", "--primer", primer,
       "--temperature", "1.0", "--max-polyphony", "4", "--seed", "1")
if args.picture:
    shutil.copyfile(pieces / "piece-1.png", args.picture)
    print(f"piano roll: {args.picture}")
