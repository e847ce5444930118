"""Reading labelled sequences from files of any supported format (DESIGN.md §6.1): the one entry point.

The format is given, or guessed from the file name:

=====================================  =========
name                                   format
=====================================  =========
``*.csv``                              csv
``*.tsv``                              tsv
``*.jsonl``, ``*.ndjson``              jsonl
``*.sst``, or a name holding ``stsa``  sst (the SST-2 files are ``stsa.binary.train`` …)
``*.fasta``, ``*.fa``, ``*.fna``,      fasta
``*.faa``
``*.npz``                              npz
``*.ts``                               ts
anything else (``.txt``, ``.json``…)   not guessed: pass ``--format``
=====================================  =========

Example::

    >>> data = read_examples("splice.data", "csv", text_column=3, label_column=1)
    >>> len(data), data.kind, data.examples[0].label
    (2552, 'text', 'N')
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rnnkit.data.formats.base import ExampleSet, LabelRules
from rnnkit.data.formats.delimited import Column, read_delimited
from rnnkit.data.formats.fasta import read_fasta, read_labels_file
from rnnkit.data.formats.jsonl import read_jsonl
from rnnkit.data.formats.npz import read_npz
from rnnkit.data.formats.sst import read_sst
from rnnkit.data.formats.ts import read_ts
from rnnkit.data.text import as_path_list
from rnnkit.errors import RnnkitError

FORMATS = ("csv", "tsv", "jsonl", "sst", "fasta", "npz", "ts")
COLUMN_FORMATS = ("csv", "tsv", "jsonl")
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".sst": "sst", ".fasta": "fasta",
             ".fa": "fasta", ".fna": "fasta", ".faa": "fasta", ".npz": "npz", ".ts": "ts"}


def guess_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its name (see module doc), or an error saying to pass ``--format``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if "stsa" in path.name.lower():
        return "sst"
    shown = f"the extension {suffix!r}" if suffix else "a name without an extension"
    raise RnnkitError(f"{path}: cannot tell the format from {shown}; pass --format (one of {', '.join(FORMATS)})")


def _check_format(fmt: str) -> str:
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise RnnkitError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return fmt.lower()


def _merge(parts: list[ExampleSet], paths: list[Path]) -> ExampleSet:
    """One set from several files' sets, which must agree on label names and features per step."""
    first = parts[0]
    for part, path in zip(parts[1:], paths[1:]):
        if part.label_names != first.label_names:
            raise RnnkitError(f"{path}: declares the labels {part.label_names} but {paths[0]} declares "
                              f"{first.label_names}; give files with the same label names")
        if part.num_features != first.num_features:
            raise RnnkitError(f"{path}: {part.num_features} features per step but {paths[0]} has "
                              f"{first.num_features}; give files with the same features")
    examples = [e for part in parts for e in part.examples]
    return ExampleSet(examples, first.kind, first.label_names, first.num_features)


def read_examples(paths: str | os.PathLike | Iterable[str | os.PathLike], format: str | None = None, *,
                  text_column: Column = None, label_column: Column = None,
                  labels_file: str | os.PathLike | None = None, multi_label: bool = False,
                  require_labels: bool = True, errors: str = "strict") -> ExampleSet:
    """Read labelled (or, for prediction, unlabelled) sequences from one or more files of one format.

    Args:
        paths: a file, or a list of files read one after the other (their examples concatenated).
        format: one of ``FORMATS``; None guesses it from each file's name (see module doc).
        text_column, label_column: csv/tsv: a header name or a 1-based column number (see
            :mod:`~rnnkit.data.formats.delimited` for the defaults); jsonl: the keys (default ``"text"``,
            ``"label"``). Other formats have no columns.
        labels_file: fasta only: ``id<TAB>label`` lines giving the records' labels.
        multi_label: a label field holds several names separated by ``|`` (a JSON list in jsonl); labels
            are then sorted tuples of unique names.
        require_labels: a missing label is an error (training, evaluation); with False it is ``None``.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8 in text files.

    Returns:
        an :class:`ExampleSet`; ``kind`` is ``"text"`` for csv, tsv, jsonl, sst, fasta and ``"features"`` for
        npz and ts. Every error a user can cause is an :class:`RnnkitError` naming the file and line or key.
    """
    if errors not in ("strict", "replace"):
        raise RnnkitError(f"encoding errors mode {errors!r} is unknown; use 'strict' or 'replace'")
    files = as_path_list(paths)
    if not files:
        raise RnnkitError("no data files given; give at least one file")
    if format is None:
        formats = [guess_format(p) for p in files]
        for path, fmt in zip(files[1:], formats[1:]):
            if fmt != formats[0]:
                raise RnnkitError(f"{path}: looks like {fmt} but {files[0]} looks like {formats[0]}; give files "
                                  "of one format (or pass --format)")
        fmt = formats[0]
    else:
        fmt = _check_format(format)
    if fmt not in COLUMN_FORMATS:
        for flag, value in (("--text-column", text_column), ("--label-column", label_column)):
            if value is not None:
                raise RnnkitError(f"{flag} applies to csv, tsv and jsonl files, not {fmt}; leave it out")
    if labels_file is not None and fmt != "fasta":
        raise RnnkitError(f"a labels file (--labels) applies to fasta files, not {fmt}; leave it out")
    rules = LabelRules(multi_label=bool(multi_label), require_labels=bool(require_labels))
    labels = None if labels_file is None else read_labels_file(Path(labels_file), errors)
    parts = [_read_one(path, fmt, text_column, label_column, labels, labels_file, rules, errors) for path in files]
    return _merge(parts, files)


def _read_one(path: Path, fmt: str, text_column: Column, label_column: Column, labels: dict[str, str] | None,
              labels_file, rules: LabelRules, errors: str) -> ExampleSet:
    if fmt in ("csv", "tsv"):
        return read_delimited(path, "," if fmt == "csv" else "\t", text_column, label_column, rules, errors)
    if fmt == "jsonl":
        return read_jsonl(path, text_column, label_column, rules, errors)
    if fmt == "sst":
        return read_sst(path, rules, errors)
    if fmt == "fasta":
        return read_fasta(path, rules, labels, errors, None if labels_file is None else Path(labels_file))
    if fmt == "npz":
        return read_npz(path, rules)
    return read_ts(path, rules, errors)
