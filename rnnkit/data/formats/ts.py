"""``ts``: the UEA/UCR time-series archive's ``.ts`` text format (sktime's layout).

Header lines start with ``@`` (tags in any case): ``@problemName``, ``@timeStamps false``, ``@missing``,
``@univariate true|false``, ``@dimensions D``, ``@equalLength``, ``@seriesLength``, ``@classLabel true a b c``
(or ``false``), then ``@data``; lines starting with ``#`` are comments. Each data line is one series: its ``D``
dimensions separated by ``:``, each a ``,``-separated list of values, and (with ``@classLabel true``) the class
label last. The series become (T, D) float32 arrays; T may differ between series but not between the
dimensions of one series.

Refused with a message saying what to do: missing values (``?``) and NaN or infinite values, timestamped values
(``@timeStamps true``, ``(t,v)``), regression targets (``@targetLabel true``), a label not in ``@classLabel``.

Example::

    @problemName Toy
    @univariate false
    @dimensions 2
    @classLabel true up down
    @data
    1,2,3:0,0,1:up
    3,2:1,0:down
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import ExampleSet, LabelRules, read_file_text
from rnnkit.errors import RnnkitError


def _flag(value: str, where: str, tag: str) -> bool:
    word = value.strip().lower()
    if word not in ("true", "false"):
        raise RnnkitError(f"{where}: @{tag} is {value.strip()!r}; write 'true' or 'false'")
    return word == "true"


class _Header:
    """The tags read so far."""

    def __init__(self) -> None:
        self.labelled: bool | None = None  # None: no @classLabel line yet
        self.class_names: list[str] | None = None
        self.dims: int | None = None
        self.in_data = False

    def read(self, line: str, where: str) -> None:
        tag, _, value = line[1:].partition(" ")
        tag = tag.strip().lower()
        if tag == "data":
            if self.labelled is None:
                raise RnnkitError(f"{where}: no @classLabel line before @data; add '@classLabel true <label> …' "
                                  "(or '@classLabel false' for unlabelled series)")
            self.in_data = True
        elif tag == "classlabel":
            first, *names = value.split() or [""]
            self.labelled = _flag(first, where, "classLabel")
            if self.labelled:
                self.class_names = list(dict.fromkeys(names)) or None  # an empty list: any label is allowed
        elif tag == "timestamps" and _flag(value, where, "timeStamps"):
            raise RnnkitError(f"{where}: timestamped series are not supported; export the series without "
                              "timestamps (equally spaced values)")
        elif tag == "targetlabel" and _flag(value, where, "targetLabel"):
            raise RnnkitError(f"{where}: a regression file (@targetLabel true); rnnkit classify needs class labels "
                              "(@classLabel true …)")
        elif tag in ("dimensions", "dimension"):
            try:
                self.dims = int(value)
            except ValueError:
                raise RnnkitError(f"{where}: @dimensions is {value.strip()!r}; write a whole number") from None
        elif tag == "univariate" and _flag(value, where, "univariate"):
            self.dims = 1
        # other tags (@problemName, @missing, @equalLength, @seriesLength, …) describe the data; nothing to check


def _dimension(text: str, where: str, d: int) -> list[float]:
    parts = text.split(",")
    if any(p.strip() == "?" for p in parts):
        raise RnnkitError(f"{where}: dimension {d} has missing values ('?'); fill them in (for example by "
                          "interpolation) or drop the series")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not _is_number(p)).strip()
        what = f"{bad[:30]!r}, which is not a number" if bad else "an empty value"
        raise RnnkitError(f"{where}: dimension {d} has {what}; values are numbers separated by ','") from None
    if not all(math.isfinite(v) for v in values):
        raise RnnkitError(f"{where}: dimension {d} has NaN or infinite values; fill or drop them before training")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_ts(path: Path, rules: LabelRules, errors: str = "strict") -> ExampleSet:
    """Read one ``.ts`` file (see module doc)."""
    head = _Header()
    examples = []
    for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        if line.startswith("@"):
            if head.in_data:
                raise RnnkitError(f"{where}: a header line after @data; put every @ line before @data")
            head.read(line, where)
            continue
        if not head.in_data:
            raise RnnkitError(f"{where}: data before the @data line; start the file with the @ header lines")
        if not head.labelled and rules.require_labels:
            raise RnnkitError(f"{path}: the file has no class labels (@classLabel false); give a labelled file")
        if "(" in line:
            raise RnnkitError(f"{where}: timestamped values '(t,v)' are not supported; export the series without "
                              "timestamps (equally spaced values)")
        fields = line.split(":")
        if head.labelled:
            if len(fields) < 2:
                raise RnnkitError(f"{where}: no class label; end the line with ':<label>'")
            fields, raw = fields[:-1], fields[-1]
            label = rules.parse(raw, where, "end the line with ':<label>'")
            names = [] if label is None else [label] if isinstance(label, str) else list(label)
            unknown = [n for n in names if head.class_names is not None and n not in head.class_names]
            if unknown:
                raise RnnkitError(f"{where}: label {unknown[0]!r} is not among the @classLabel labels "
                                  f"({' '.join(head.class_names)}); add it there or correct the line")
        else:
            label = None
        series = [_dimension(text, where, d) for d, text in enumerate(fields, start=1)]
        if head.dims is not None and len(series) != head.dims:
            raise RnnkitError(f"{where}: {len(series)} dimensions but the file has {head.dims} (@dimensions, "
                              "@univariate or the first series); separate dimensions with ':'")
        head.dims = len(series)
        if len({len(s) for s in series}) > 1:
            sizes = ", ".join(str(len(s)) for s in series)
            raise RnnkitError(f"{where}: the dimensions have different lengths ({sizes}); every dimension of a "
                              "series needs the same number of values")
        with np.errstate(over="ignore"):
            x = np.array(series, dtype=np.float32).T.copy()  # (T, D)
        if not np.isfinite(x).all():
            raise RnnkitError(f"{where}: values beyond float32's range (about 3.4e38); rescale the series")
        examples.append(Example(x, label, where))
    if not examples:
        raise RnnkitError(f"{path}: no series in the file{'' if head.in_data else ' (no @data line)'}; give a file "
                          "with at least one series after @data")
    return ExampleSet(examples, "features", head.class_names, head.dims)
