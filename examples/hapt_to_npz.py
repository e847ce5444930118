"""Convert the raw UCI HAPT smartphone signals into an rnnkit ``npz`` file of 2.56 s activity windows.

Reads ``DIR/RawData/labels.txt`` (rows ``experiment user activity start_row end_row``), ``DIR/activity_labels.txt``
and the signal files ``DIR/RawData/acc_expXX_userYY.txt[.xz]`` and ``gyro_expXX_userYY.txt[.xz]`` (50 Hz,
three columns each: total acceleration in g, angular velocity in rad/s). DIR may also be the ``RawData`` folder
itself, with ``activity_labels.txt`` beside it.

Writes FILE.npz (``numpy.savez_compressed``, readable with ``allow_pickle=False``) holding:

- ``x``: float32 (N * 128, 6), every window's 128 rows concatenated in order; the columns are accelerometer
  x, y, z then gyroscope x, y, z, the raw values of the files (no filtering, centring or scaling);
- ``lengths``: int64 (N,), all 128;
- ``y``: int64 (N,), activity id - 1, so 0..5;
- ``label_names``: unicode (6,), the names of activities 1-6 in ``activity_labels.txt``, stripped:
  WALKING, WALKING_UPSTAIRS, WALKING_DOWNSTAIRS, SITTING, STANDING, LAYING.

Windows: only the six basic activities (ids 1-6; the postural transitions 7-12 are dropped). Inside every
labelled segment, windows of 128 rows (2.56 s) start every 64 rows (50 % overlap) from the segment's first row;
a window never crosses the segment's end (the tail that does not fill one is dropped) and a segment shorter
than 128 rows gives none. ``start_row`` and ``end_row`` are 1-based and inclusive: consecutive segments of an
experiment meet with ``start = previous end + 1``, and a segment holds ``end - start + 1`` rows. Window k of a
segment is therefore rows ``start + 64 k`` ... ``start + 64 k + 127`` (1-based) of both files. Windows are
written in the order (experiment, segment as listed in labels.txt, window).

Volunteers: ``--users`` keeps only those listed, and then every experiment of theirs in labels.txt must have its
two signal files; by default every volunteer of labels.txt is taken and the experiments without signal files
are skipped and counted in the summary (the full data set's labels.txt lists 30 volunteers). ``--exclude-users``
drops volunteers. Writing the test volunteers with ``--users`` and the training file with the same list in
``--exclude-users`` gives a test set of people never seen in training. The shared copy holds 21 volunteers
(1 3 5 6 7 8 11 14 15 16 17 19 21 22 23 25 26 27 28 29 30, the UCI HAR training subjects; 42 experiments, 7,415
windows); a fixed split of 15 train / 6 test volunteers, spread over the ids:

    python examples/hapt_to_npz.py --raw ../shared/data/hapt --out hapt_train.npz --exclude-users 3 8 15 21 26 29
    python examples/hapt_to_npz.py --raw ../shared/data/hapt --out hapt_test.npz --users 3 8 15 21 26 29

Prints one summary line: windows per class, volunteers and experiments used. Errors (missing files, a volunteer
with no data, a segment past the end of its signal) end with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

WINDOW = 128  # rows: 2.56 s at 50 Hz
STEP = 64  # 50 % overlap
BASIC_ACTIVITIES = range(1, 7)
SIGNAL_NAME = re.compile(r"(acc|gyro)_exp(\d+)_user(\d+)\.txt(\.xz)?")


class ConversionError(Exception):
    """A problem with the input that the user can fix; reported in one line."""


def locate(raw: Path) -> tuple[Path, Path]:
    """(RawData folder, activity_labels.txt) for DIR = the data set folder or its RawData folder."""
    raw = Path(raw)
    rawdata = raw / "RawData" if (raw / "RawData").is_dir() else raw
    labels_file = rawdata / "labels.txt"
    if not labels_file.is_file():
        raise ConversionError(f"{labels_file} is missing: --raw must name the HAPT folder (with RawData/labels.txt)")
    for names in (raw / "activity_labels.txt", rawdata.parent / "activity_labels.txt"):
        if names.is_file():
            return rawdata, names
    raise ConversionError(f"activity_labels.txt is missing beside {rawdata}")


def read_activity_names(path: Path) -> list[str]:
    """The names of activities 1..6, from rows ``id NAME`` (trailing spaces stripped)."""
    names = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            ident, _, name = line.strip().partition(" ")
            names[int(ident)] = name.strip()
    missing = [i for i in BASIC_ACTIVITIES if i not in names]
    if missing:
        raise ConversionError(f"{path} does not name activities {missing}")
    return [names[i] for i in BASIC_ACTIVITIES]


def read_labels(path: Path) -> np.ndarray:
    """labels.txt as an int array (rows, 5): experiment, user, activity, start_row, end_row."""
    table = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if table.size == 0 or table.shape[1] != 5:
        raise ConversionError(f"{path}: expected rows 'experiment user activity start_row end_row'")
    return table


def signal_files(rawdata: Path) -> dict[tuple[int, int], dict[str, Path]]:
    """{(experiment, user): {"acc": path, "gyro": path}}; a plain .txt wins over a .txt.xz of the same name."""
    found: dict[tuple[int, int], dict[str, Path]] = {}
    for path in sorted(rawdata.iterdir(), key=lambda p: (p.name.endswith(".xz"), p.name)):
        match = SIGNAL_NAME.fullmatch(path.name)
        if match:
            found.setdefault((int(match[2]), int(match[3])), {}).setdefault(match[1], path)
    return found


def load_signal(path: Path) -> np.ndarray:
    """A (rows, 3) float64 array from a text file, xz-compressed or not (numpy.loadtxt decompresses .xz)."""
    values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if values.shape[1] != 3:
        raise ConversionError(f"{path}: expected 3 columns, found {values.shape[1]}")
    return values


def window_starts(start_row: int, end_row: int) -> list[int]:
    """0-based first rows of the windows inside the 1-based inclusive segment [start_row, end_row]."""
    first, stop = start_row - 1, end_row  # the segment is rows first .. stop - 1, 0-based
    return list(range(first, stop - WINDOW + 1, STEP))


def convert(raw, users=None, exclude_users=()) -> dict:
    """Read the raw folder; return the npz arrays plus a ``summary`` dict (not written to the file)."""
    rawdata, names_file = locate(Path(raw))
    label_names = read_activity_names(names_file)
    table = read_labels(rawdata / "labels.txt")
    files = signal_files(rawdata)
    listed_users = sorted({int(u) for u in table[:, 1]})
    if users:
        unknown = sorted(set(users) - set(listed_users))
        if unknown:
            raise ConversionError(f"volunteers {unknown} do not appear in {rawdata / 'labels.txt'}")
        chosen = set(users)
    else:
        chosen = set(listed_users)
    chosen -= set(exclude_users)
    if not chosen:
        raise ConversionError("no volunteer left to convert")

    experiments = []  # (experiment, user) in order of first appearance in labels.txt
    for experiment, user in table[:, :2]:
        key = (int(experiment), int(user))
        if key[1] in chosen and key not in experiments:
            experiments.append(key)
    skipped = [key for key in experiments if key not in files]
    if users and skipped:
        missing = ", ".join(f"exp{e:02d}_user{u:02d}" for e, u in skipped)
        raise ConversionError(f"no signal files in {rawdata} for {missing}")
    experiments = [key for key in experiments if key in files]

    windows, y, used_users = [], [], set()
    for experiment, user in sorted(experiments):
        kinds = files[(experiment, user)]
        for kind in ("acc", "gyro"):
            if kind not in kinds:
                raise ConversionError(f"{kind}_exp{experiment:02d}_user{user:02d}.txt[.xz] is missing in {rawdata}")
        acc, gyro = load_signal(kinds["acc"]), load_signal(kinds["gyro"])
        signal = np.concatenate([acc[: len(gyro)], gyro[: len(acc)]], axis=1)
        rows = (table[:, 0] == experiment) & (table[:, 1] == user)
        for _, _, activity, start_row, end_row in table[rows].tolist():
            if activity not in BASIC_ACTIVITIES:
                continue
            if start_row < 1 or end_row > len(signal):
                raise ConversionError(f"experiment {experiment}: segment rows {start_row}-{end_row} lie outside its "
                                      f"signal of {len(acc)} accelerometer and {len(gyro)} gyroscope rows")
            for first in window_starts(start_row, end_row):
                windows.append(signal[first:first + WINDOW])
                y.append(activity - 1)
                used_users.add(user)

    if not windows:
        raise ConversionError("the chosen volunteers give no window")
    y_array = np.asarray(y, dtype=np.int64)
    return {
        "x": np.concatenate(windows).astype(np.float32),
        "lengths": np.full(len(windows), WINDOW, dtype=np.int64),
        "y": y_array,
        "label_names": np.array(label_names, dtype=str),
        "summary": {
            "per_class": {name: int((y_array == k).sum()) for k, name in enumerate(label_names)},
            "users": sorted(used_users),
            "experiments": len(experiments),
            "skipped_experiments": skipped,
        },
    }


def save(path, arrays: dict) -> None:
    """Write the npz arrays to exactly ``path`` (numpy would otherwise append .npz to other names)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **{k: v for k, v in arrays.items() if k != "summary"})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hapt_to_npz.py", description=__doc__.splitlines()[0],
                                     epilog="See the module docstring for the exact layout written.")
    parser.add_argument("--raw", required=True, metavar="DIR", help="the HAPT folder (with RawData/)")
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="the npz file to write")
    parser.add_argument("--users", type=int, nargs="+", metavar="U", help="keep only these volunteers")
    parser.add_argument("--exclude-users", type=int, nargs="+", default=[], metavar="U",
                        help="drop these volunteers")
    args = parser.parse_args(argv)
    try:
        arrays = convert(args.raw, users=args.users, exclude_users=args.exclude_users)
        save(args.out, arrays)
    except (ConversionError, OSError, ValueError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    summary = arrays["summary"]
    classes = ", ".join(f"{name} {count}" for name, count in summary["per_class"].items())
    skipped = summary["skipped_experiments"]
    note = ""
    if skipped:
        note = (f"; skipped {len(skipped)} experiments of labels.txt that have no signal files "
                f"(volunteers {' '.join(map(str, sorted({u for _, u in skipped})))})")
    print(f"hapt: {len(arrays['y'])} windows ({classes}) from {len(summary['users'])} volunteers "
          f"({' '.join(map(str, summary['users']))}), {summary['experiments']} experiments{note} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
