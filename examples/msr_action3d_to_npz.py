"""Convert MSR Action3D skeleton files into an rnnkit ``npz`` file of variable-length joint sequences.

Reads every ``aAA_sSS_eEE_skeleton3D.txt`` in DIR (action AA 1-20, subject SS, repetition EE) of the chosen
subjects, in sorted file-name order; other files are ignored. Each file is a list of frames, a frame being 20
rows ``x y z confidence``, one per joint.

Writes FILE.npz (``numpy.savez_compressed``, readable with ``allow_pickle=False``) holding:

- ``x``: float32 (total frames, 60), every sequence's frames concatenated in file order; per frame the 20
  joints in file order, each x, y, z (the confidence column is dropped), the raw values of the file;
- ``lengths``: int64 (N,), frames per sequence;
- ``y``: int64 (N,), action - 1, so 0..19;
- ``label_names``: unicode (20,), ``a01`` ... ``a20``, all twenty even when the chosen subjects lack some.

Broken sequences are skipped, each with a ``warning:`` line on stderr naming the file, and counted in the
summary: a file that is empty (no frames), whose rows do not all hold 4 numbers, whose row count is not a
multiple of 20, whose action is outside 1-20, or whose x, y, z values are all zero. Everything else is kept
unchanged: frames that are all zero inside an otherwise valid sequence stay (the shared copy has a few such
files, e.g. a13_s09_e03 with 740 zero frames of 936), nothing is resampled, centred or scaled.

``--subjects`` keeps only those subjects (default: all present). The shared copy holds only the odd subjects
1 3 5 7 9 (the training half of the usual cross-subject protocol); a split with test subjects never seen in
training:

    python examples/msr_action3d_to_npz.py --raw ../shared/data/msr_action3d --out msr_train.npz --subjects 1 3 5
    python examples/msr_action3d_to_npz.py --raw ../shared/data/msr_action3d --out msr_test.npz --subjects 7 9

This gives 173 training sequences (6,585 frames, 13-100 per sequence) and 118 test sequences (5,482 frames;
a13_s09_e02 skipped). Subjects 3 and 5 have no a15 files, so training sees only 3 sequences of a15; the test
side holds a13_s09_e03, 936 frames (740 of them zero), about nine times longer than any other sequence.

Prints one summary line: sequences per class, frames, subjects and skipped files. Errors (no such folder, a
requested subject without files, nothing left to write) end with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

JOINTS = 20
ACTIONS = 20
FILE_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)_skeleton3D\.txt")
LABEL_NAMES = [f"a{action:02d}" for action in range(1, ACTIONS + 1)]


class ConversionError(Exception):
    """A problem with the input that the user can fix; reported in one line."""


def skeleton_files(raw: Path) -> list[tuple[Path, int, int]]:
    """(path, action, subject) of every skeleton file in ``raw``, in sorted file-name order."""
    raw = Path(raw)
    if not raw.is_dir():
        raise ConversionError(f"{raw} is not a folder")
    found = []
    for path in sorted(raw.iterdir(), key=lambda p: p.name):
        match = FILE_NAME.fullmatch(path.name)
        if match and path.is_file():
            found.append((path, int(match[1]), int(match[2])))
    return found


def read_sequence(path: Path, action: int) -> tuple[np.ndarray | None, str]:
    """(frames as float32 (T, 60), "") or (None, why the file is broken)."""
    if not 1 <= action <= ACTIONS:
        return None, f"action {action} is outside 1-{ACTIONS}"
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            return None, f"line {number} holds {len(fields)} values, not 4"
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            return None, f"line {number} is not numeric"
    if not rows:
        return None, "no frames"
    if len(rows) % JOINTS:
        return None, f"{len(rows)} rows, not a multiple of {JOINTS}"
    xyz = np.asarray(rows, dtype=np.float64)[:, :3]
    if not xyz.any():
        return None, "every coordinate is zero"
    return xyz.reshape(-1, JOINTS * 3).astype(np.float32), ""


def convert(raw, subjects=None, warn=None) -> dict:
    """Read the folder; return the npz arrays plus a ``summary`` dict (not written to the file)."""
    warn = warn or (lambda message: print(message, file=sys.stderr))
    files = skeleton_files(Path(raw))
    present = sorted({subject for _, _, subject in files})
    if subjects:
        absent = sorted(set(subjects) - set(present))
        if absent:
            raise ConversionError(f"no skeleton files of subjects {absent} in {raw} (present: {present})")
        files = [entry for entry in files if entry[2] in set(subjects)]
    if not files:
        raise ConversionError(f"no aAA_sSS_eEE_skeleton3D.txt files in {raw}")

    sequences, y, skipped, used = [], [], [], set()
    for path, action, subject in files:
        frames, why = read_sequence(path, action)
        if frames is None:
            warn(f"warning: skipped {path.name}: {why}")
            skipped.append(path.name)
            continue
        sequences.append(frames)
        y.append(action - 1)
        used.add(subject)
    if not sequences:
        raise ConversionError("every chosen file is broken: nothing to write")
    y_array = np.asarray(y, dtype=np.int64)
    return {
        "x": np.concatenate(sequences),
        "lengths": np.asarray([len(s) for s in sequences], dtype=np.int64),
        "y": y_array,
        "label_names": np.array(LABEL_NAMES, dtype=str),
        "summary": {
            "per_class": {name: int((y_array == k).sum()) for k, name in enumerate(LABEL_NAMES)},
            "subjects": sorted(used),
            "skipped": skipped,
        },
    }


def save(path, arrays: dict) -> None:
    """Write the npz arrays to exactly ``path`` (numpy would otherwise append .npz to other names)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **{k: v for k, v in arrays.items() if k != "summary"})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="msr_action3d_to_npz.py", description=__doc__.splitlines()[0],
                                     epilog="See the module docstring for the exact layout written.")
    parser.add_argument("--raw", required=True, metavar="DIR", help="the folder of skeleton3D.txt files")
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="the npz file to write")
    parser.add_argument("--subjects", type=int, nargs="+", metavar="S", help="keep only these subjects")
    args = parser.parse_args(argv)
    try:
        arrays = convert(args.raw, subjects=args.subjects)
        save(args.out, arrays)
    except (ConversionError, OSError, ValueError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    summary, lengths = arrays["summary"], arrays["lengths"]
    classes = " ".join(f"{name}:{count}" for name, count in summary["per_class"].items())
    print(f"msr_action3d: {len(lengths)} sequences ({classes}), {int(lengths.sum())} frames "
          f"({int(lengths.min())}-{int(lengths.max())} per sequence), subjects "
          f"{' '.join(map(str, summary['subjects']))}, {len(summary['skipped'])} broken files skipped -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
