"""Pretrained word vectors (word2vec or GloVe text files) for the tokens of a vocabulary.

The file holds one ``word v1 … vD`` line per word, fields separated by spaces; word2vec's files start with a
``count D`` line. The file is streamed line by line (a few GB is fine; ``.gz`` files are read compressed), only
the vectors of wanted tokens are parsed, and reading stops once every token is found. ``D`` is fixed by the
``count D`` line or else by the first vector; a line with fewer values is an error naming it, and so is one
with more values unless what comes before the last ``D`` fields reads as a word holding spaces (GloVe 840B
has a few, such as ``". . ."``). The first line giving a word wins.

With ``lower_fallback`` a token missing from the file takes the vector of its lower-cased form (``"Paris"`` →
``"paris"``), as for files of lower-cased words.

Example::

    vectors, found, dim = load_embeddings("glove.6B.50d.txt", vocab.tokens)  # (V, 50) float32, (V,) bool, 50
    with torch.no_grad():
        embedding.weight[found] = vectors[found]  # the other rows keep their random start
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import torch

from rnnkit.errors import RnnkitError

_BOM = b"\xef\xbb\xbf"
_FLOAT32_MAX = 3.4028234663852886e38


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes, with read errors (also of a damaged ``.gz``) as RnnkitError."""
    if not path.exists():
        raise RnnkitError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise RnnkitError(f"{path}: is a directory; give the embeddings file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            yield from f
    except (OSError, EOFError, zlib.error) as e:
        raise RnnkitError(f"{path}: cannot read ({e}); check the file") from None


def _number(field: bytes) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _header_dim(fields: list[bytes]) -> int | None:
    """D of a word2vec ``count D`` first line, else None."""
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
        return int(fields[1])
    return None


def load_embeddings(path: str | os.PathLike, tokens: list[str], lower_fallback: bool = True, *,
                    errors: str = "strict") -> tuple[torch.Tensor, torch.Tensor, int]:
    """Vectors for ``tokens`` from a word2vec/GloVe text file (see module doc).

    Args:
        path: the vectors file (``.txt``, ``.vec``, or either gzipped as ``.gz``).
        tokens: the vocabulary, in id order.
        lower_fallback: a token not in the file may take its lower-cased form's vector.
        errors: ``"strict"`` (a word that is not UTF-8 is an error) or ``"replace"``.

    Returns:
        ``(vectors, found, D)``: ``vectors`` (len(tokens), D) float32, zero where not found; ``found``
        (len(tokens),) bool; ``D`` the file's dimension.
    """
    if errors not in ("strict", "replace"):
        raise RnnkitError(f"encoding errors mode {errors!r} is unknown; use 'strict' or 'replace'")
    path = Path(path)
    exact: dict[str, list[int]] = {}
    lowered: dict[str, list[int]] = {}
    for i, tok in enumerate(tokens):
        exact.setdefault(tok, []).append(i)
        if lower_fallback and tok.lower() != tok:
            lowered.setdefault(tok.lower(), []).append(i)
    rows: dict[int, list[float]] = {}
    how: dict[int, str] = {}  # token index → "exact" | "lower"
    dim, seen = None, 0
    remaining = len(exact)  # distinct tokens still to find exactly
    for number, line in enumerate(_lines(path), start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        fields = line.split()
        if not fields:
            continue
        if dim is None:
            dim = _header_dim(fields) if number == 1 else None
            if dim is not None:
                continue
            dim = len(fields) - 1
            if dim < 1:
                raise RnnkitError(f"{path}:{number}: a word without a vector; each line is 'word v1 … vD'")
        if len(fields) < dim + 1 or (len(fields) > dim + 1 and _number(fields[-dim - 1])):
            raise RnnkitError(f"{path}:{number}: {len(fields) - 1} values after the word, but the vectors of this "
                              f"file have {dim}; the file mixes dimensions or is damaged")
        seen += 1
        try:
            word = b" ".join(fields[:-dim]).decode("utf-8", errors)
        except UnicodeDecodeError:
            raise RnnkitError(f"{path}:{number}: the word is not valid UTF-8; convert the file, or pass "
                              "errors='replace'") from None
        if remaining == 0:
            break  # no tokens wanted: the dimension was all there was to learn
        targets = [(i, "exact") for i in exact.get(word, ()) if how.get(i) != "exact"]
        targets += [(i, "lower") for i in lowered.get(word, ()) if i not in how]
        if not targets:
            continue
        try:
            vector = [float(v) for v in fields[-dim:]]
        except ValueError:
            raise RnnkitError(f"{path}:{number}: the vector of {word[:40]!r} has a value that is not a "
                              "number") from None
        if not all(math.isfinite(v) and abs(v) <= _FLOAT32_MAX for v in vector):
            raise RnnkitError(f"{path}:{number}: the vector of {word[:40]!r} has NaN, infinite or too large "
                              "values (beyond float32); fix or drop the line")
        for i, kind in targets:
            rows[i], how[i] = vector, kind
        if targets[0][1] == "exact":
            remaining -= 1
        if remaining == 0:
            break  # every token has its own vector: the rest of the file cannot change anything
    if dim is None or seen == 0:
        raise RnnkitError(f"{path}: no vectors in the file; each line should be 'word v1 … vD'")
    vectors = torch.zeros(len(tokens), dim, dtype=torch.float32)
    found = torch.zeros(len(tokens), dtype=torch.bool)
    for i, vector in rows.items():
        vectors[i] = torch.tensor(vector, dtype=torch.float32)
        found[i] = True
    return vectors, found, dim


def fill_embedding(embedding, tokens: list[str], path: str | os.PathLike) -> int:
    """Copy the vectors of ``path`` into the rows of ``embedding`` (an ``nn.Embedding`` over ``tokens``) that
    the file has; returns how many it had. An error when the file's dimension is not the embedding's."""
    vectors, found, dim = load_embeddings(path, tokens)
    size = None if embedding is None else embedding.weight.shape[1]
    if size != dim:
        raise RnnkitError(f"{path}: the vectors have {dim} components but the embedding has {size}; give "
                          f"--embedding {dim}")
    with torch.no_grad():
        embedding.weight[found] = vectors[found].to(embedding.weight.dtype)
    return int(found.sum())
