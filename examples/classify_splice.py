"""DNA (many-to-one, bases): primate splice junctions, exon/intron boundary (EI), intron/exon (IE) or neither (N).

A stratified 20 % of the sequences is held out as the test set (identical sequences on one side only), the
classifier reads the 60 bases one by one (``--level char``), and the test set is scored at the end.

    python examples/classify_splice.py [--out runs/splice]
"""

import argparse
import subprocess
import sys
from pathlib import Path

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/splice")
args, extra = parser.parse_known_args()

split = Path(args.out).parent / "splice-data"
subprocess.run([sys.executable, str(Path(__file__).with_name("splice_split.py")), "--data",
                str(data_file("dna", "splice.data")), "--out-dir", str(split)], check=True)
rnnkit("classify", "train", "--data", split / "train.csv", "--text-column", "sequence", "--label-column", "label",
       "--level", "char", "--out", args.out, *extra)
rnnkit("classify", "eval", args.out, "--data", split / "test.csv", "--json")
