"""Reading text files: UTF-8, one newline convention, clear errors for everything else.

Every file is decoded as UTF-8 (a leading byte-order mark is dropped) and its newlines ``\\r\\n`` and
``\\r`` become ``\\n``. Several files are concatenated in the order given; a file that does not end in a
newline gets one before the next file, so the last line of one file never runs into the first of the next.

Errors a user can cause raise :class:`RnnkitError`: a missing path, a directory, an empty file, binary data
(NUL bytes), bytes that are not UTF-8 (with the byte offset; ``errors="replace"`` decodes lossily instead).

Example::

    text = read_text(["a.txt", "b.txt"])            # str, newlines normalised
    text = read_text("latin1.txt", errors="replace")  # undecodable bytes become U+FFFD
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from rnnkit.errors import RnnkitError

PathLike = str | os.PathLike
_BOM = b"\xef\xbb\xbf"
_ERRORS = ("strict", "replace")


def as_path_list(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    """One path or an iterable of paths → a list of :class:`Path` (a single ``str`` is one path)."""
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise RnnkitError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise RnnkitError(f"{path}: is a directory; give the text files inside it")
    try:
        return path.read_bytes()
    except OSError as e:
        raise RnnkitError(f"{path}: cannot read ({e.strerror})") from None


def decode_text(data: bytes, name: str, errors: str = "strict") -> str:
    """Decode one file's bytes (see module doc); ``name`` identifies the file in error messages."""
    if errors not in _ERRORS:
        raise RnnkitError(f"encoding errors mode {errors!r} is unknown; use 'strict' or 'replace'")
    offset = 0
    if data.startswith(_BOM):
        data, offset = data[len(_BOM):], len(_BOM)
    if not data:
        raise RnnkitError(f"{name}: the file is empty; give a file with text in it")
    nul = data.find(b"\x00")
    if nul >= 0:
        hint = (" (it looks like UTF-16; convert it to UTF-8)"
                if data[:2] in (b"\xff\xfe", b"\xfe\xff") or nul in (0, 1) else "")
        raise RnnkitError(f"{name}: binary data, not text (NUL byte at byte offset {nul + offset}){hint}; "
                          "give a UTF-8 text file")
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise RnnkitError(
            f"{name}: not valid UTF-8 at byte offset {e.start + offset} (byte 0x{data[e.start]:02x}); "
            "convert the file to UTF-8, or decode lossily with errors='replace' "
            "(--encoding-errors replace on the command line)") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_file_texts(paths: PathLike | Iterable[PathLike], errors: str = "strict") -> Iterator[str]:
    """Yield each file's text, one file in memory at a time, with the newline between files added.

    ``"".join(iter_file_texts(paths))`` is :func:`read_text`'s result.
    """
    paths = as_path_list(paths)
    if not paths:
        raise RnnkitError("no text files given; give at least one file")
    for i, path in enumerate(paths):
        text = decode_text(_read_bytes(path), str(path), errors)
        if i + 1 < len(paths) and not text.endswith("\n"):
            text += "\n"
        yield text


def read_text(paths: PathLike | Iterable[PathLike], errors: str = "strict") -> str:
    """Read one or many UTF-8 text files into one string (see module doc).

    Args:
        paths: a path, or an iterable of paths read in order.
        errors: ``"strict"`` (undecodable bytes raise :class:`RnnkitError`) or ``"replace"`` (they become
            U+FFFD).
    """
    return "".join(iter_file_texts(paths, errors))
