"""Sentence pairs for translation: ``csv``, ``tsv`` and ``jsonl`` with a source and a target column.

Columns are chosen by ``--source-column`` and ``--target-column``, each a header name or a 1-based column
number (DESIGN.md §6.1):

- numbers (the defaults, 1 and 2) mean there is no header row: every row is a pair, as in the Tatoeba / Anki
  files (``English<TAB>French``, so ``--source-column 2 --target-column 1`` translates French to English);
- a name means the first row is a header and the column is found in it;
- ``jsonl`` names keys (default ``"source"`` and ``"target"``).

Every field is stripped of surrounding whitespace; blank rows are skipped; an empty source, or an empty or
missing target where targets are required, is an error naming the line. A ``.txt`` file is read as ``tsv``.
Plain text (``text``, one source per line) is for ``predict``.

Example::

    >>> pairs = read_pairs("fra.txt", source_column=2, target_column=1)
    >>> pairs[0].source, pairs[0].target
    ('Va !', 'Go.')
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.formats.base import json_objects, read_file_text
from rnnkit.data.formats.delimited import _listing, _rows, column_number
from rnnkit.data.text import as_path_list
from rnnkit.errors import RnnkitError

PAIR_FORMATS = ("tsv", "csv", "jsonl", "text")
_SUFFIXES = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class Pair:
    """A source text, its target text (None for unlabelled input) and where it came from (``"fra.txt:12"``)."""

    source: str
    target: str | None
    where: str = ""


def guess_pair_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    shown = f"the extension {suffix!r}" if suffix else "a name without an extension"
    raise RnnkitError(f"{path}: cannot tell the format from {shown}; pass --format (one of "
                      f"{', '.join(PAIR_FORMATS)})")


def _field(cells: list[str], column: str | int | None, default: int, header: list[str] | None, where: str,
           role: str) -> int:
    number = column_number(column, role)
    if header is not None:
        if number is not None:
            index = number - 1
        else:
            name = str(column).strip() if column is not None else None
            if name is None or name not in header:
                shown = f"no column named {name!r}" if name is not None else f"no {role} column named"
                raise RnnkitError(f"{where}: {shown}; the header has {_listing(header)}; give one of these or a "
                                  f"1-based column number (--{role}-column)")
            return header.index(name)
    else:
        index = (number or default) - 1
    if index >= len(cells):
        raise RnnkitError(f"{where}: the {role} column {index + 1} does not exist: the row has {len(cells)} "
                          f"column{'s' if len(cells) != 1 else ''}; check --{role}-column and the delimiter "
                          "(--format csv or tsv)")
    return index


def _check(text: str | None, where: str, role: str, required: bool) -> str | None:
    if text is None or not text.strip():
        if required:
            raise RnnkitError(f"{where}: the {role} is empty; give every pair a {role}, or remove the line")
        return None
    return text.strip()


def _read_delimited(path: Path, delimiter: str, source_column, target_column, require_target: bool,
                    errors: str, roles: tuple[str, str]) -> list[Pair]:
    rs, rt = roles
    rows = _rows(read_file_text(path, errors), path, delimiter)
    if not rows:
        raise RnnkitError(f"{path}: no rows in the file; give a file with at least one pair")
    named = any(c is not None and column_number(c, r) is None for c, r in ((source_column, rs), (target_column, rt)))
    line, first = rows[0]
    header = first if named else None
    s = _field(first, source_column, 1, header, f"{path}:{line}", rs)
    wants_target = require_target or target_column is not None or len(first) > 1
    t = _field(first, target_column, 2, header, f"{path}:{line}", rt) if wants_target else None
    if t is not None and t == s:
        raise RnnkitError(f"{path}:{line}: the {rs} and the {rt} are the same column ({s + 1}); give two "
                          "different columns")
    pairs = []
    for line, cells in rows[1:] if header is not None else rows:
        where = f"{path}:{line}"
        if s >= len(cells) or (require_target and t >= len(cells)):
            missing = rs if s >= len(cells) else rt
            raise RnnkitError(f"{where}: the row has {len(cells)} field{'s' if len(cells) != 1 else ''}, so no "
                              f"{missing} (column {(s if missing == rs else t) + 1}); give every row a {rs} "
                              f"and a {rt} (tab-separated in tsv)")
        target = cells[t] if t is not None and t < len(cells) else None
        pairs.append(Pair(_check(cells[s], where, rs, True), _check(target, where, rt, require_target), where))
    return pairs


def _key(column, default: str, role: str) -> str:
    if column is None:
        return default
    if column_number(column, role) is not None:
        raise RnnkitError(f"--{role}-column {column!r}: jsonl files name their fields, so give the key's name "
                          "(column numbers are for csv and tsv)")
    return str(column)


def _read_jsonl(path: Path, source_column, target_column, require_target: bool, errors: str,
                roles: tuple[str, str]) -> list[Pair]:
    rs, rt = roles
    s_key, t_key = _key(source_column, rs, rs), _key(target_column, rt, rt)
    pairs = []
    for where, obj in json_objects(path, errors, f'{{"{s_key}": "…", "{t_key}": "…"}}'):
        for key, role, needed in ((s_key, rs, True), (t_key, rt, require_target)):
            if needed and key not in obj:
                raise RnnkitError(f"{where}: no key {key!r} for the {role}; the object has "
                                  f"{', '.join(map(repr, obj)) or 'no keys'}; name it with --{role}-column")
            if key in obj and obj[key] is not None and not isinstance(obj[key], str):
                raise RnnkitError(f"{where}: the {role} under {key!r} is a JSON {type(obj[key]).__name__}, not a "
                                  "string")
        pairs.append(Pair(_check(obj.get(s_key), where, rs, True), _check(obj.get(t_key), where, rt, require_target),
                          where))
    return pairs


def _read_text(path: Path, errors: str) -> list[Pair]:
    pairs = []
    for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1):
        if line.strip():
            pairs.append(Pair(line.strip(), None, f"{path}:{number}"))
    return pairs


def read_pairs(paths: str | os.PathLike | Iterable[str | os.PathLike], format: str | None = None, *,
               source_column: str | int | None = None, target_column: str | int | None = None,
               require_target: bool = True, errors: str = "strict",
               roles: tuple[str, str] = ("source", "target")) -> list[Pair]:
    """Read sentence pairs (see module doc) from one or more files of one format, file after file. ``roles``
    names the two columns in messages and flags (``("path", "transcript")`` for speech manifests, whose jsonl
    keys are the same names)."""
    files = as_path_list(paths)
    if not files:
        raise RnnkitError("no data files given; give at least one file")
    if format is not None and format not in PAIR_FORMATS:
        raise RnnkitError(f"unknown format {format!r}; use one of: {', '.join(PAIR_FORMATS)}")
    if format == "text" and require_target:
        raise RnnkitError("plain text holds sources only; give pairs (tsv, csv or jsonl) to train or evaluate")
    pairs: list[Pair] = []
    for path in files:
        fmt = format or guess_pair_format(path)
        if fmt in ("tsv", "csv"):
            part = _read_delimited(path, "\t" if fmt == "tsv" else ",", source_column, target_column,
                                   require_target, errors, roles)
        elif fmt == "jsonl":
            part = _read_jsonl(path, source_column, target_column, require_target, errors, roles)
        else:
            part = _read_text(path, errors)
        if not part:
            raise RnnkitError(f"{path}: no pairs in the file; give a file with at least one")
        pairs.extend(part)
    return pairs


__all__ = ["PAIR_FORMATS", "Pair", "guess_pair_format", "read_pairs"]
