"""Sentiment (many-to-one, words): SST-2, trained on train, validated on dev, no pretrained vectors.

The shared copy of SST-2 has train and dev only; the test split is not there. So this example also holds out
the last 872 sentences of train as its own validation set (``--holdout``, the default) and reports dev as
data the model never saw; ``--no-holdout`` trains on all of train and validates (and stops early) on dev, the
split the issue names, whose unseen test is then SST-2's own test file.

    python examples/classify_sst2.py [--out runs/sst2]
"""

import argparse
from pathlib import Path

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/sst2")
parser.add_argument("--holdout", action=argparse.BooleanOptionalAction, default=True)
args, extra = parser.parse_known_args()

train, dev = data_file("sst2", "stsa.binary.train"), data_file("sst2", "stsa.binary.dev")
if args.holdout:
    folder = Path(args.out).parent
    folder.mkdir(parents=True, exist_ok=True)
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "sst2-train.sst").write_text("".join(lines[:-872]), encoding="utf-8")
    (folder / "sst2-holdout.sst").write_text("".join(lines[-872:]), encoding="utf-8")
    train, valid = folder / "sst2-train.sst", folder / "sst2-holdout.sst"
else:
    valid = dev
rnnkit("classify", "train", "--data", train, "--valid", valid, "--format", "sst", "--out", args.out, *extra)
rnnkit("classify", "eval", args.out, "--data", dev, "--format", "sst", "--json")
