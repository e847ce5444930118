"""``csv`` and ``tsv``: one example per row, a text column and a label column.

Columns are chosen by the column flags, each a header name or a 1-based column number:

- a **name** (``text_column="review"``) means the first row is a header and the column is found in it;
- a **number** (``3``, or the string ``"3"``) means there is no header row: every row is an example;
- **neither** given: if the first row has a cell named ``text``, ``sentence`` or ``sequence`` and one named
  ``label``, ``class`` or ``y`` (any case), it is a header and those columns are used (a one-column first row
  needs only the text name). Otherwise there is no header, the text is the **last** column and the label the
  **first** (``label,text`` rows, as in the UCI splice file ``CLASS, NAME, SEQUENCE``).

A column left out defaults as above (by its usual name with a header; first or last position without one,
never the other column's). Every field is stripped of surrounding whitespace; rows whose fields are all blank
are skipped; every row must have as many fields as the first. ``csv`` follows the usual quoting (RFC 4180:
double quotes around a field holding a comma, a quote or a newline); ``tsv`` has no quoting at all (a quote is
an ordinary character and a field cannot hold a tab or a newline), as in GLUE's ``.tsv`` files.

Example::

    >>> read_delimited(Path("splice.data"), ",", 3, 1, LabelRules(), "strict").examples[0].label
    'N'
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import ExampleSet, LabelRules, check_text, read_file_text, text_set
from rnnkit.errors import RnnkitError

TEXT_NAMES = ("text", "sentence", "sequence")
LABEL_NAMES = ("label", "class", "y")
Column = str | int | None
_SHOWN = 20  # header cells listed in an error message


def column_number(column: Column, role: str) -> int | None:
    """The 1-based number a column flag gives (an int or a string of digits), or None for a name / None."""
    if column is None:
        return None
    if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise RnnkitError(f"{role} column {column!r} is neither a name nor a column number; give a header name "
                          "or a 1-based column number")
    if isinstance(column, str):
        if not (column.strip().isascii() and column.strip().isdigit()):
            return None
        column = int(column)
    if column < 1:
        raise RnnkitError(f"{role} column {column}: column numbers start at 1 (the first column is 1)")
    return column


@contextmanager
def _long_fields() -> Iterator[None]:
    """Let a field be as long as a sequence can be (the csv module's default stops at 128 KiB)."""
    old = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _rows(text: str, path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """``(line number, stripped fields)`` of every row that is not blank."""
    if delimiter == "\t":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows, start = [], 1
    with _long_fields():
        try:
            for row in reader:
                cells = [c.strip() for c in row]
                if any(cells):
                    rows.append((start, cells))
                start = reader.line_num + 1
        except csv.Error as e:
            raise RnnkitError(f"{path}:{start}: not valid CSV ({e}); a field holding a comma, a quote or a newline "
                              "must be in double quotes, with each quote inside doubled") from None
    return rows


def _listing(cells: list[str]) -> str:
    shown = ", ".join(repr(c) for c in cells[:_SHOWN])
    return shown + (f", … ({len(cells)} in all)" if len(cells) > _SHOWN else "")


def _find(header: list[str], column: Column, number: int | None, known: tuple[str, ...], where: str,
          role: str) -> int | None:
    """The index of a column in a header row (None when left out and no cell has one of the ``known`` names)."""
    if number is not None:
        if number > len(header):
            raise RnnkitError(f"{where}: {role} column {number} does not exist: the header has {len(header)} "
                              f"columns ({_listing(header)})")
        return number - 1
    if column is not None:
        column = column.strip()
        if column not in header:
            raise RnnkitError(f"{where}: no column named {column!r}; the header has {_listing(header)}; give one "
                              "of these or a 1-based column number")
        return header.index(column)
    lowered = [c.lower() for c in header]
    return next((i for i, c in enumerate(lowered) if c in known), None)


def _position(number: int | None, width: int, preferred: int, other: int | None, where: str, role: str) -> int | None:
    """A column index without a header: the number given, else ``preferred`` (first or last) unless the other
    column is there, then the opposite end (None when there is only one column)."""
    if number is not None:
        if number > width:
            raise RnnkitError(f"{where}: {role} column {number} does not exist: the row has {width} column"
                              f"{'s' if width != 1 else ''}; check the column number and the delimiter "
                              "(--format csv or tsv)")
        return number - 1
    if other is None or preferred != other:
        return preferred
    opposite = width - 1 if preferred == 0 else 0
    return opposite if opposite != other else None


def looks_like_header(cells: list[str]) -> bool:
    """Whether a first row names its columns (see module doc)."""
    lowered = {c.lower() for c in cells}
    has_text = bool(lowered & set(TEXT_NAMES))
    return has_text and (len(cells) == 1 or bool(lowered & set(LABEL_NAMES)))


def layout(first: list[str], text_column: Column, label_column: Column, where: str,
           rules: LabelRules) -> tuple[bool, int, int | None]:
    """``(has header row, text index, label index or None)`` for a file whose first row is ``first``."""
    t_num, l_num = column_number(text_column, "text"), column_number(label_column, "label")
    named = (text_column is not None and t_num is None) or (label_column is not None and l_num is None)
    both_default = text_column is None and label_column is None
    header = named or (both_default and looks_like_header(first))
    width = len(first)
    if header:
        t = _find(first, text_column, t_num, TEXT_NAMES, where, "text")
        lab = _find(first, label_column, l_num, LABEL_NAMES, where, "label")
        if t is None:
            raise RnnkitError(f"{where}: no text column: the header has {_listing(first)}; name the column that "
                              "holds the text (--text-column)")
    else:
        if l_num is not None and t_num is None:  # the label's column is fixed: the text avoids it
            lab = _position(l_num, width, 0, None, where, "label")
            t = _position(None, width, width - 1, lab, where, "text")
            if t is None:
                raise RnnkitError(f"{where}: the rows have one column, the label's; there is no text column")
        else:
            t = _position(t_num, width, width - 1, None, where, "text")
            lab = _position(l_num, width, 0, t, where, "label")
    if lab is not None and lab == t:
        raise RnnkitError(f"{where}: the text and the label are the same column ({t + 1}); give two different "
                          "columns")
    if lab is None and rules.require_labels:
        shown = f"the header has {_listing(first)}" if header else "the rows have only one column"
        raise RnnkitError(f"{where}: no label column ({shown}); name the column that holds the label "
                          "(--label-column)")
    return header, t, lab


def read_delimited(path: Path, delimiter: str, text_column: Column, label_column: Column, rules: LabelRules,
                   errors: str = "strict") -> ExampleSet:
    """Read one csv (``delimiter=","``) or tsv (``"\\t"``) file (see module doc)."""
    rows = _rows(read_file_text(path, errors), path, delimiter)
    if not rows:
        raise RnnkitError(f"{path}: no rows in the file; give a file with at least one example")
    line, first = rows[0]
    header, t, lab = layout(first, text_column, label_column, f"{path}:{line}", rules)
    width = len(first)
    examples = []
    for line, cells in rows[1:] if header else rows:
        where = f"{path}:{line}"
        if len(cells) != width:
            raise RnnkitError(f"{where}: the row has {len(cells)} fields but the {'header' if header else 'first row'}"
                              f" has {width}; quote fields that hold the delimiter, or check --format csv/tsv")
        label = None if lab is None else rules.parse(cells[lab], where, f"fill in column {lab + 1}, or remove the row")
        examples.append(Example(check_text(cells[t], where), label, where))
    return text_set(examples, path, "no examples below the header" if header else "no examples")
