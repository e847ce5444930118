"""Tagged sentences (one tag per token) from ``conll``, ``jsonl``, ``npz`` and plain ``text`` files.

- ``conll``: one token per line, whitespace-separated columns (tab-separated when the line has a tab, so a
  token may then hold a space), a blank (or whitespace-only) line between sentences, ``-DOCSTART-`` lines
  skipped. ``token_column`` (1-based, default 1) holds the token, ``tag_column`` (default: the last) the tag.
  Every token line of a file has the same number of columns. A file of one column has tokens only (for
  ``predict``).
- ``jsonl``: one object per line with a list of tokens (key ``tokens``) and a list of tags of the same length
  (key ``tags``); the column flags name other keys.
- ``npz``: feature vectors per step, ``y`` (ΣT,) one label per step (:func:`.npz.read_npz_steps`).
- ``text`` (unlabelled, for ``predict``): one sentence per line, tokens separated by whitespace.

Tokens are kept exactly (casing, digits, punctuation). A token holding a control character, an empty token or
tag, a sentence of no tokens, and a file of no sentence are errors naming the file and line.

Example::

    >>> data = read_tagged("wnut17train.conll")
    >>> data.sentences[0].tokens[:3], data.sentences[0].tags[:3]
    (('@paulwalk', 'It', "'s"), ('O', 'O', 'O'))
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.formats.base import json_objects, read_file_text
from rnnkit.data.formats.npz import read_npz_steps
from rnnkit.data.text import as_path_list
from rnnkit.errors import RnnkitError

TAG_FORMATS = ("conll", "jsonl", "npz", "text")
_SUFFIXES = {".conll": "conll", ".conllu": "conll", ".bio": "conll", ".iob": "conll", ".iob2": "conll",
             ".bioes": "conll", ".jsonl": "jsonl", ".ndjson": "jsonl", ".npz": "npz"}
DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    """One sentence: ``tokens`` (a tuple of str, or features (T, F)), ``tags`` (a tuple of str, or None when
    unlabelled), ``where`` (file and line of its start) and ``lines`` (each token's line, for conll)."""

    tokens: tuple[str, ...] | np.ndarray
    tags: tuple[str, ...] | None
    where: str
    lines: tuple[int, ...] | None = None
    path: str = ""

    def __len__(self) -> int:
        return len(self.tokens)

    def token_where(self, i: int) -> str:
        """Where token ``i`` is, for error messages."""
        if self.lines is not None:
            return f"{self.path}:{self.lines[i]}"
        return f"{self.where} (token {i + 1})"


@dataclass
class TaggedSet:
    """The sentences of one or more files; ``kind`` ``"text"`` (tokens) or ``"features"``."""

    sentences: list[Sentence]
    kind: str
    num_features: int | None = None
    label_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.sentences)


def guess_tag_format(path: Path, labelled: bool) -> str:
    """``conll``, ``jsonl`` or ``npz`` from the extension; any other name is ``conll`` when tags are needed
    (training, evaluation) and plain ``text`` (one sentence per line) when not (prediction)."""
    return _SUFFIXES.get(path.suffix.lower(), "conll" if labelled else "text")


def read_tagged(paths: str | os.PathLike | Iterable[str | os.PathLike], format: str | None = None, *,
                token_column: int | str | None = None, tag_column: int | str | None = None,
                require_tags: bool = True, errors: str = "strict") -> TaggedSet:
    """Read tagged (or, for prediction, untagged) sentences from files of one format (see module doc)."""
    files = as_path_list(paths)
    if not files:
        raise RnnkitError("no data files given; give at least one file")
    if format is not None and format not in TAG_FORMATS:
        raise RnnkitError(f"unknown tagging format {format!r}; use one of: {', '.join(TAG_FORMATS)}")
    parts = []
    for path in files:
        fmt = format or guess_tag_format(path, require_tags)
        if fmt == "text" and require_tags:
            raise RnnkitError(f"{path}: plain text has no tags; give a conll or jsonl file with tags")
        if fmt == "npz":
            for flag, value in (("--token-column", token_column), ("--tag-column", tag_column)):
                if value is not None:
                    raise RnnkitError(f"{flag} applies to conll and jsonl files, not npz; leave it out")
            parts.append(_read_npz(path, require_tags))
        elif fmt == "jsonl":
            parts.append(TaggedSet(_read_jsonl(path, token_column, tag_column, require_tags, errors), "text"))
        elif fmt == "conll":
            parts.append(TaggedSet(_read_conll(path, token_column, tag_column, require_tags, errors), "text"))
        else:
            parts.append(TaggedSet(_read_text(path, errors), "text"))
    first = parts[0]
    for part, path in zip(parts[1:], files[1:]):
        if part.kind != first.kind or part.num_features != first.num_features:
            raise RnnkitError(f"{path}: holds {part.kind} ({part.num_features or 'tokens'}) but {files[0]} holds "
                              f"{first.kind} ({first.num_features or 'tokens'}); give files of one kind")
    return TaggedSet([s for p in parts for s in p.sentences], first.kind, first.num_features, first.label_names)


def _check_token(token: str, where: str) -> str:
    if not token:
        raise RnnkitError(f"{where}: an empty token; give every token at least one character")
    for ch in token:
        if unicodedata.category(ch) == "Cc":
            raise RnnkitError(f"{where}: the token {token!r} holds the control character U+{ord(ch):04X}; remove "
                              "it from the file")
    return token


def _column_number(column, default: int | None, role: str) -> int | None:
    if column is None:
        return default
    if isinstance(column, str) and not column.isdigit():
        raise RnnkitError(f"--{role}-column {column!r}: conll files have no header, so give a 1-based column "
                          "number")
    value = int(column)
    if value < 1:
        raise RnnkitError(f"--{role}-column must be a 1-based column number, got {value}")
    return value


def _read_conll(path: Path, token_column, tag_column, require_tags: bool, errors: str) -> list[Sentence]:
    token_col = _column_number(token_column, 1, "token")
    tag_col = _column_number(tag_column, None, "tag")
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    width = first_line = None

    def close():
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags) if tags else None, f"{path}:{lines[0]}",
                                      tuple(lines), str(path)))
        tokens.clear(), tags.clear(), lines.clear()

    for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1):
        if not line.strip():
            close()
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if fields[0] == DOCSTART:
            close()
            continue
        where = f"{path}:{number}"
        if width is None:
            width, first_line = len(fields), number
            if token_col > width:
                raise RnnkitError(f"{where}: {width} column(s), so there is no token column {token_col}; give "
                                  f"--token-column 1 … {width}")
            if tag_col is not None and tag_col > width:
                raise RnnkitError(f"{where}: {width} column(s), so there is no tag column {tag_col}; give "
                                  f"--tag-column 1 … {width}")
            if require_tags and (tag_col or width) == token_col:
                raise RnnkitError(f"{where}: one column only, so no tags; give a file with the tag in the last "
                                  "column (or --tag-column N)")
        elif len(fields) != width:
            raise RnnkitError(f"{where}: {len(fields)} column(s), but line {first_line} has {width}; every token "
                              "line needs the same columns (is a token or tag missing, or holding a space?)")
        tokens.append(_check_token(fields[token_col - 1], where))
        lines.append(number)
        column = tag_col or width
        if column != token_col:
            tag = fields[column - 1]
            if not tag:
                raise RnnkitError(f"{where}: the tag in column {column} is empty; give every token a tag")
            tags.append(tag)
    close()
    if not sentences:
        raise RnnkitError(f"{path}: no sentence in the file (one token per line, a blank line between sentences)")
    return sentences


def _read_jsonl(path: Path, token_column, tag_column, require_tags: bool, errors: str) -> list[Sentence]:
    def key(column, default, role):
        if column is None:
            return default
        if not isinstance(column, str) or column.isdigit():
            raise RnnkitError(f"--{role}-column {column!r}: jsonl files name their fields, so give the key")
        return column

    token_key, tag_key = key(token_column, "tokens", "token"), key(tag_column, "tags", "tag")
    sentences = []
    example = f'{{"{token_key}": ["New", "York"], "{tag_key}": ["B-LOC", "I-LOC"]}}'
    for where, obj in json_objects(path, errors, example):
        if not isinstance(obj.get(token_key), list):
            raise RnnkitError(f"{where}: no list of tokens under {token_key!r}; write objects such as {example}")
        tokens = obj[token_key]
        if not tokens:
            raise RnnkitError(f"{where}: an empty sentence (no tokens); remove the line")
        for i, t in enumerate(tokens):
            if not isinstance(t, str):
                raise RnnkitError(f"{where}: token {i + 1} is a JSON {type(t).__name__}, not a string")
            _check_token(t, f"{where} (token {i + 1})")
            if any(ch.isspace() for ch in t):
                raise RnnkitError(f"{where}: token {i + 1} ({t!r}) holds whitespace; split it into tokens")
        tags = obj.get(tag_key)
        if tags is None:
            if require_tags:
                raise RnnkitError(f"{where}: no list of tags under {tag_key!r}; give one tag per token")
        else:
            if not isinstance(tags, list) or len(tags) != len(tokens) or not all(
                    isinstance(t, str) and t.strip() for t in tags):
                raise RnnkitError(f"{where}: {tag_key!r} must be a list of {len(tokens)} non-empty strings, one "
                                  "per token")
            tags = tuple(t.strip() for t in tags)
        sentences.append(Sentence(tuple(tokens), tags, where))
    if not sentences:
        raise RnnkitError(f"{path}: no sentence in the file; write one JSON object per line")
    return sentences


def _read_text(path: Path, errors: str) -> list[Sentence]:
    sentences = [text_sentence(line, f"{path}:{number}")
                 for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1)]
    sentences = [s for s in sentences if s is not None]
    if not sentences:
        raise RnnkitError(f"{path}: no sentence in the file (one sentence per line, tokens separated by spaces)")
    return sentences


def text_sentence(line: str, where: str) -> Sentence | None:
    """One line of plain text as an untagged sentence (None for a blank line)."""
    tokens = line.split()
    return Sentence(tuple(_check_token(t, where) for t in tokens), None, where) if tokens else None


def _read_npz(path: Path, require_tags: bool) -> TaggedSet:
    seqs, labels, names = read_npz_steps(path, require_tags)
    sentences = [Sentence(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(seqs, labels))]
    return TaggedSet(sentences, "features", int(seqs[0].shape[1]), names)
