"""Activity from phone sensors (many-to-one, feature vectors): HAPT raw signals, six activities, unseen volunteers.

Raw 50 Hz accelerometer and gyroscope signals are cut into 2.56 s windows (128 rows, 50 % overlap, inside a
labelled segment) by ``hapt_to_npz.py``; 15 volunteers train (10 % of their windows validate), and the other 6
— never seen in training — are the test set.

    python examples/classify_hapt.py [--out runs/hapt]
"""

import argparse
import subprocess
import sys
from pathlib import Path

from _common import data_file, rnnkit

TEST_USERS = ["3", "8", "15", "21", "26", "29"]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/hapt")
args, extra = parser.parse_known_args()

folder = Path(args.out).parent / "hapt-data"
convert = [sys.executable, str(Path(__file__).with_name("hapt_to_npz.py")), "--raw", str(data_file("hapt"))]
subprocess.run([*convert, "--out", str(folder / "train.npz"), "--exclude-users", *TEST_USERS], check=True)
subprocess.run([*convert, "--out", str(folder / "test.npz"), "--users", *TEST_USERS], check=True)
rnnkit("classify", "train", "--data", folder / "train.npz", "--out", args.out, *extra)
rnnkit("classify", "eval", args.out, "--data", folder / "test.npz", "--json")
