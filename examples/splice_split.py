"""Split the UCI splice-junction file into train.csv and test.csv: stratified, seeded, duplicates kept together.

Reads ``splice.data``: one example per line, ``CLASS, NAME, SEQUENCE`` (spaces after the commas; classes EI,
IE, N; 60 bases A C G T plus rare ambiguity codes D N S R, kept as they are).

Writes ``DIR/train.csv`` and ``DIR/test.csv``, header ``label,name,sequence``, every field stripped, the rows
of each file in the order of the input. For rnnkit: ``--text-column sequence --label-column label``.

The hold-out: identical sequences are grouped (the shared copy has 2,552 lines but 2,431 distinct sequences:
87 sequences occur 2-4 times, 208 lines in all, from homologous genes or the same entry listed twice) and a
group always goes to one side, so no test sequence is seen in training. Within each class the groups are
shuffled with ``random.Random(seed)`` and taken into the test set while they fit, up to
``round(test_fraction * rows of the class)`` rows; the rest is train. The same file, fraction and seed always
give the same two files. A group whose copies carry different labels (none in the shared copy) is stratified
under its first label and counted in the summary. Near-duplicates (sequences of homologous genes that differ
in a few bases) are not grouped.

    python examples/splice_split.py --data ../shared/data/dna/splice.data --out-dir splice

Prints one summary line: rows per class on each side and the duplicate groups. Errors (missing file, a line
that is not three fields) end with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import Counter
from pathlib import Path

HEADER = ("label", "name", "sequence")


class SplitError(Exception):
    """A problem with the input that the user can fix; reported in one line."""


def read_rows(path) -> list[tuple[str, str, str]]:
    """(label, name, sequence) per non-blank line, fields stripped."""
    rows = []
    with open(path, encoding="ascii", errors="strict") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = [field.strip() for field in line.split(",")]
            if len(fields) != 3 or not all(fields):
                raise SplitError(f"{path}:{number}: expected 'CLASS, NAME, SEQUENCE'")
            rows.append((fields[0], fields[1], fields[2]))
    if not rows:
        raise SplitError(f"{path} holds no examples")
    return rows


def split(rows, test_fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int], dict]:
    """(train row indices, test row indices, summary): a stratified hold-out keeping equal sequences together."""
    if not 0.0 < test_fraction < 1.0:
        raise SplitError(f"--test-fraction must lie strictly between 0 and 1, not {test_fraction}")
    groups: dict[str, list[int]] = {}  # sequence -> its row indices, in order of first appearance
    for index, (_, _, sequence) in enumerate(rows):
        groups.setdefault(sequence, []).append(index)
    by_class: dict[str, list[list[int]]] = {}
    conflicting = 0
    for members in groups.values():
        labels = {rows[i][0] for i in members}
        conflicting += len(labels) > 1
        by_class.setdefault(rows[members[0]][0], []).append(members)

    rng = random.Random(seed)
    test: list[int] = []
    for label in sorted(by_class):
        class_groups = by_class[label]
        target = round(test_fraction * sum(len(g) for g in class_groups))
        order = list(range(len(class_groups)))
        rng.shuffle(order)
        taken = 0
        for g in order:
            if taken >= target:
                break
            if taken + len(class_groups[g]) <= target:
                test.extend(class_groups[g])
                taken += len(class_groups[g])
    test_set = set(test)
    repeated = [members for members in groups.values() if len(members) > 1]
    summary = {
        "distinct": len(groups),
        "repeated_groups": len(repeated),
        "repeated_rows": sum(len(m) for m in repeated),
        "conflicting_groups": conflicting,
    }
    return [i for i in range(len(rows)) if i not in test_set], sorted(test_set), summary


def write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="", encoding="ascii") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="splice_split.py", description=__doc__.splitlines()[0],
                                     epilog="See the module docstring for how the split is drawn.")
    parser.add_argument("--data", required=True, metavar="splice.data", help="the UCI splice file")
    parser.add_argument("--out-dir", required=True, metavar="DIR", help="where train.csv and test.csv go")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of each class held out (0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle (0)")
    args = parser.parse_args(argv)
    try:
        rows = read_rows(args.data)
        train, test, summary = split(rows, args.test_fraction, args.seed)
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "train.csv", [rows[i] for i in train])
        write_csv(out / "test.csv", [rows[i] for i in test])
    except (SplitError, OSError, UnicodeError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2

    def counts(indices):
        tally = Counter(rows[i][0] for i in indices)
        return " ".join(f"{label}:{tally[label]}" for label in sorted({r[0] for r in rows}))

    conflicting = summary["conflicting_groups"]
    print(f"splice: train {len(train)} ({counts(train)}), test {len(test)} ({counts(test)}); "
          f"{summary['distinct']} distinct sequences, {summary['repeated_groups']} repeated "
          f"({summary['repeated_rows']} rows) kept on one side" + (f", {conflicting} with conflicting labels"
                                                                   if conflicting else "") + f" -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
