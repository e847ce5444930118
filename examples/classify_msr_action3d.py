"""Video activity (many-to-one, skeletons): MSR Action3D, 20 actions, cross-subject.

Each frame is 20 joints × (x, y, z) from ``msr_action3d_to_npz.py``; subjects 1, 3 and 5 train (10 % of their
sequences validate), subjects 7 and 9 — never seen in training — are the test set.

    python examples/classify_msr_action3d.py [--out runs/msr]
"""

import argparse
import subprocess
import sys
from pathlib import Path

from _common import data_file, rnnkit

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/msr")
args, extra = parser.parse_known_args()

folder = Path(args.out).parent / "msr-data"
convert = [sys.executable, str(Path(__file__).with_name("msr_action3d_to_npz.py")), "--raw",
           str(data_file("msr_action3d"))]
subprocess.run([*convert, "--out", str(folder / "train.npz"), "--subjects", "1", "3", "5"], check=True)
subprocess.run([*convert, "--out", str(folder / "test.npz"), "--subjects", "7", "9"], check=True)
rnnkit("classify", "train", "--data", folder / "train.npz", "--out", args.out, *extra)
rnnkit("classify", "eval", args.out, "--data", folder / "test.npz", "--json")
