"""Token ids encoded once into a memory-mapped file, found again by a hash of what went in.

A corpus is tokenized and encoded the first time it is used; the ids (``uint16`` when the vocabulary has
fewer than 65536 tokens, else ``uint32``) go to ``<cache_dir>/ids-<level>-<sha256 prefix>.<dtype>``. The
hash covers the input bytes, the vocabulary and every tokenization option, so a changed file or option
gives a new cache file and an unchanged one is reused without reading the text again beyond hashing it.

Encoding streams: files are read a block at a time (:func:`rnnkit.data.text.iter_file_chunks`) and encoded in
pieces of about a million characters cut after a newline, so memory stays flat however large the corpus.
Tokens never span a newline, so chunking changes nothing. The file is written to a temporary name and renamed
into place: a killed run, or two processes building the same cache at once, never leave a partial cache.

Example::

    ids = encode_to_memmap(vocab, "runs/.cache", paths=["shakespeare.txt"])   # np.memmap, (N,)
    ids = encode_to_memmap(vocab, "runs/.cache", text=default_corpus(), eos="line")
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from rnnkit.data.text import PathLike, as_path_list, iter_file_chunks
from rnnkit.data.tokenize import tokenize
from rnnkit.data.vocab import Vocab
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open

CACHE_FORMAT = 1
_CHUNK_CHARS = 1 << 20
_HASH_BLOCK = 1 << 20


def default_cache_dir(explicit: str | Path | None = None) -> Path:
    """Where caches go: ``explicit`` (a ``--cache-dir`` flag), else ``$RNNKIT_CACHE``, else ``~/.cache/rnnkit``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit"))


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds ids below ``vocab_size``: uint16, else uint32."""
    return np.dtype(np.uint16 if vocab_size < 65536 else np.uint32)


def _line_chunks(text: str, size: int) -> Iterator[str]:
    """Pieces of ``text`` of at least ``size`` characters, each cut just after a newline."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def source_pieces(text: str | None, paths: list[Path], errors: str = "strict") -> Iterator[tuple[int, str]]:
    """``(document index, piece)`` of ``text`` (one document) or of the files ``paths`` (one each), every
    piece cut just after a newline: the whole corpus passes through memory a piece at a time."""
    if text is not None:
        return ((0, piece) for piece in _line_chunks(text, _CHUNK_CHARS))
    return iter_file_chunks(paths, errors, _CHUNK_CHARS)


def _digest(vocab: Vocab, options: dict, text: str | None, paths: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"cache_format": CACHE_FORMAT, "vocab": vocab.to_dict(), **options},
                        sort_keys=True).encode())
    if text is not None:
        data = text.encode("utf-8", "surrogatepass")
        h.update(b"text" + len(data).to_bytes(8, "little"))
        h.update(data)
    for path in paths:
        try:
            h.update(b"file" + path.stat().st_size.to_bytes(8, "little"))
            with open(path, "rb") as f:
                while block := f.read(_HASH_BLOCK):
                    h.update(block)
        except OSError:
            pass  # reading the text below reports the problem in the user's terms
    return h.hexdigest()


def _encode_documents(pieces: Iterable[tuple[int, str]], vocab: Vocab, eos: str, unknown: str,
                      dtype: np.dtype, out) -> int:
    """Write the ids of every ``(document, piece)`` to the binary file ``out``; return how many were written."""
    if eos != "none" and vocab.eos_id is None:
        raise RnnkitError(f"eos={eos!r} needs a vocabulary with <EOS>; build the vocabulary from tokens "
                          "made with the same eos option")
    written, current = 0, None
    for doc, chunk in pieces:
        if eos == "document" and current is not None and doc != current:
            out.write(np.asarray([vocab.eos_id], dtype=dtype).tobytes())  # the end of the previous document
            written += 1
        current = doc
        ids = vocab.encode(tokenize(chunk, vocab.level, "line" if eos == "line" else "none"), unknown)
        out.write(np.asarray(ids, dtype=dtype).tobytes())
        written += len(ids)
    if eos == "document" and current is not None:
        out.write(np.asarray([vocab.eos_id], dtype=dtype).tobytes())
        written += 1
    return written


def encode_to_memmap(vocab: Vocab, cache_dir: PathLike, *, text: str | None = None,
                     paths: PathLike | Iterable[PathLike] | None = None, eos: str = "none",
                     unknown: str = "error", errors: str = "strict") -> np.memmap:
    """Token ids of ``text`` or of the files ``paths`` (give exactly one), cached in ``cache_dir``.

    Equal to ``vocab.encode(tokenize(source, vocab.level, eos), unknown)``, where the source is ``text`` or
    ``read_text(paths, errors)``, except that ``eos="document"`` ends every file with ``<EOS>``.

    Returns:
        a read-only ``np.memmap`` of shape ``(N,)`` and dtype :func:`ids_dtype` ``(len(vocab))``;
        its ``filename`` is the cache file.
    """
    if (text is None) == (paths is None):
        raise RnnkitError("give exactly one of text= and paths= to encode")
    tokenize("", vocab.level, eos)  # validates eos before any work
    if unknown not in ("error", "unk"):
        raise RnnkitError(f"unknown={unknown!r} is not an option; use 'error' or 'unk'")
    path_list = [] if paths is None else as_path_list(paths)
    dtype = ids_dtype(len(vocab))
    options = {"eos": eos, "unknown": unknown, "errors": errors, "dtype": dtype.name}
    cache_dir = Path(cache_dir)
    target = cache_dir / f"ids-{vocab.level}-{_digest(vocab, options, text, path_list)[:32]}.{dtype.name}"
    if not (target.is_file() and target.stat().st_size > 0 and target.stat().st_size % dtype.itemsize == 0):
        pieces = source_pieces(text, path_list, errors)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RnnkitError(f"{cache_dir}: cannot create the cache folder ({e.strerror})") from None
        with atomic_open(target) as out:
            if _encode_documents(pieces, vocab, eos, unknown, dtype, out) == 0:
                raise RnnkitError("the text has no tokens (only whitespace?); give text with words in it")
    return np.memmap(target, dtype=dtype, mode="r")
