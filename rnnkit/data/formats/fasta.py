"""``fasta``: records of a ``>header`` line and sequence lines, one example per record.

The sequence lines of a record (wrapped over any number of lines) are joined with their whitespace removed;
letters keep their case. The record's id is the first whitespace-separated field of the header. Its label is
the header's last field (``>seq7 promoter``), or, with a labels file, the label given there for its id: one
``id<TAB>label`` per line (a space works instead of the tab when the label has none). Lines starting with ``;``
are comments; blank lines are skipped.

Example::

    >seq1 promoter
    ACGTACGTAC
    GTTA
    >seq2 other
    TTGACA
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import ExampleSet, LabelRules, read_file_text, text_set
from rnnkit.errors import RnnkitError

_SPACE = re.compile(r"\s+")


def read_labels_file(path: Path, errors: str = "strict") -> dict[str, str]:
    """``{id: label}`` from an ``id<TAB>label`` file."""
    labels: dict[str, str] = {}
    for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        parts = line.split("\t", 1) if "\t" in line else line.split(None, 1)
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise RnnkitError(f"{where}: expected 'id<TAB>label', got {line[:60]!r}; write one id and its label "
                              "per line")
        key, label = parts[0].strip(), parts[1].strip()
        if labels.get(key, label) != label:
            raise RnnkitError(f"{where}: id {key!r} has label {label!r} here but {labels[key]!r} above; give each "
                              "id one label")
        labels[key] = label
    if not labels:
        raise RnnkitError(f"{path}: no labels in the file; write one 'id<TAB>label' per line")
    return labels


def _records(text: str, path: Path) -> list[tuple[int, str, str]]:
    """``(header line number, header, sequence)`` of every record."""
    records: list[tuple[int, str, list[str]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith(">"):
            records.append((number, line[1:].strip(), []))
        elif line.startswith(";") or not line.strip():
            continue
        elif not records:
            raise RnnkitError(f"{path}:{number}: sequence data before the first '>' header; start every record "
                              "with a '>id label' line")
        else:
            records[-1][2].append(_SPACE.sub("", line))
    return [(n, header, "".join(parts)) for n, header, parts in records]


def read_fasta(path: Path, rules: LabelRules, labels: dict[str, str] | None = None,
               errors: str = "strict", labels_path: Path | None = None) -> ExampleSet:
    """Read one FASTA file; ``labels`` (from :func:`read_labels_file` of ``labels_path``) replaces the labels in
    the headers (see module doc)."""
    examples = []
    for number, header, sequence in _records(read_file_text(path, errors), path):
        where = f"{path}:{number}"
        fields = header.split()
        if not fields:
            raise RnnkitError(f"{where}: the header '>' has no id; write '>id label'")
        if not sequence:
            raise RnnkitError(f"{where}: record {fields[0]!r} has an empty sequence; give its sequence on the lines "
                              "after the header, or remove the record")
        if labels is not None:
            raw = labels.get(fields[0])
            hint = f"add a line '{fields[0]}<TAB>label' to {labels_path or 'the labels file'}"
        else:
            raw = fields[-1] if len(fields) > 1 else None
            hint = (f"put it as the last field of the header ('>{fields[0]} label'), or give a labels file "
                    "(--labels FILE)")
        examples.append(Example(sequence, rules.parse(raw, f"{where}: record {fields[0]!r}", hint), where))
    return text_set(examples, path, "no '>' records")
