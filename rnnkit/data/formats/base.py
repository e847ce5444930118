"""What every format reader shares: the :class:`ExampleSet` it returns, and the rules for texts and labels.

Labels are always strings, stripped of surrounding whitespace. With ``multi_label`` a label field holds several
names separated by ``|`` and becomes a sorted tuple of unique names. A missing (empty) label is an error when
labels are required (training, evaluation) and ``None`` otherwise (prediction).

Example::

    >>> rules = LabelRules(multi_label=True)
    >>> rules.parse(" b | a|b ", "train.csv:3", "fill in the label")
    ('a', 'b')
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnnkit.data.examples import Example
from rnnkit.data.text import _read_bytes, decode_text
from rnnkit.errors import RnnkitError

Kind = Literal["text", "features"]
Label = str | tuple[str, ...] | None
LABEL_SEPARATOR = "|"


@dataclass
class ExampleSet:
    """The examples read from one or more files.

    Attributes:
        examples: the examples, file after file, in file order.
        kind: ``"text"`` (``Example.sequence`` is a ``str``) or ``"features"`` (a float32 array (T, F)).
        label_names: the label names the file itself declares, in its order (an npz's ``label_names``, a
            ``.ts`` file's ``@classLabel`` list), else None.
        num_features: ``F`` for features, None for text.
    """

    examples: list[Example]
    kind: Kind
    label_names: list[str] | None = None
    num_features: int | None = None

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class LabelRules:
    """How label fields are read: ``multi_label`` (split on ``|``) and ``require_labels`` (a missing label is
    an error rather than ``None``)."""

    multi_label: bool = False
    require_labels: bool = True

    def parse(self, raw: str | None, where: str, hint: str) -> Label:
        """The label of a raw field (``None`` or blank = missing); ``hint`` says how to give a missing one."""
        if raw is not None and self.multi_label:
            names = tuple(sorted({part.strip() for part in raw.split(LABEL_SEPARATOR)} - {""}))
            return names if names else self.missing(where, hint)
        raw = None if raw is None else raw.strip()
        return raw if raw else self.missing(where, hint)

    def missing(self, where: str, hint: str) -> None:
        """``None`` for an unlabelled example, or the error when labels are required."""
        if self.require_labels:
            raise RnnkitError(f"{where}: the example has no label; {hint}")
        return None


def read_file_text(path: Path, errors: str) -> str:
    """The decoded text of one file (UTF-8, newlines normalised), with rnnkit's errors for a missing file, an
    empty file, binary data or bytes that are not UTF-8."""
    return decode_text(_read_bytes(path), str(path), errors)


def json_objects(path: Path, errors: str, example: str) -> Iterator[tuple[str, dict]]:
    """``(where, object)`` for each non-blank line of a JSON-lines file (``where`` = ``"file:line"``); a line that
    is not valid JSON, or not an object, is an error that shows ``example``, an object as the reader wants it."""
    for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:
            reason = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
            raise RnnkitError(f"{where}: not valid JSON ({reason}); write one JSON object per line, such as "
                              f"{example}") from None
        if not isinstance(obj, dict):
            raise RnnkitError(f"{where}: a JSON {type(obj).__name__}, not an object; write one object per line, "
                              f"such as {example}")
        yield where, obj


def check_text(text: str, where: str) -> str:
    """``text`` stripped, or an error if nothing is left."""
    text = text.strip()
    if not text:
        raise RnnkitError(f"{where}: the text is empty; give every example some text, or remove it")
    return text


def text_set(examples: list[Example], path: Path, what: str = "no examples") -> ExampleSet:
    """The :class:`ExampleSet` of a text file, or an error if it holds no example."""
    if not examples:
        raise RnnkitError(f"{path}: {what} in the file; give a file with at least one example")
    return ExampleSet(examples, "text")
