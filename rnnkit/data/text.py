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

import codecs
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from rnnkit.errors import RnnkitError

PathLike = str | os.PathLike
_BOM = b"\xef\xbb\xbf"
_ERRORS = ("strict", "replace")
_READ_BLOCK = 1 << 20  # bytes per read in iter_file_chunks


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


def _utf16_hint(body_start: bytes, nul: int) -> str:
    return (" (it looks like UTF-16; convert it to UTF-8)"
            if body_start[:2] in (b"\xff\xfe", b"\xfe\xff") or nul in (0, 1) else "")


def _file_pieces(path: Path, errors: str, block: int) -> Iterator[str]:
    """One file's text in pieces, each ending just after a newline (the last may not), read ``block`` bytes
    at a time: memory is bounded by the block and the longest line, not the file. Same checks as
    :func:`decode_text`."""
    name = str(path)
    if not path.exists():
        raise RnnkitError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise RnnkitError(f"{path}: is a directory; give the text files inside it")
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    pending, held_cr, pos, body = "", "", 0, 0  # undelivered text, a trailing "\r", file offset, body bytes
    try:
        f = open(path, "rb")
    except OSError as e:
        raise RnnkitError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        while True:
            try:
                data = f.read(block if pos else max(block, len(_BOM)))  # a BOM arrives whole
            except OSError as e:
                raise RnnkitError(f"{path}: cannot read ({e.strerror})") from None
            final = not data
            if pos == 0 and data.startswith(_BOM):
                data, pos = data[len(_BOM):], len(_BOM)
            nul = data.find(b"\x00")
            if nul >= 0:
                raise RnnkitError(f"{name}: binary data, not text (NUL byte at byte offset {pos + nul})"
                                  f"{_utf16_hint(data if body == 0 else b'', body + nul)}; give a UTF-8 text file")
            if final and body == 0:
                raise RnnkitError(f"{name}: the file is empty; give a file with text in it")
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as e:
                at = pos - (len(e.object) - len(data)) + e.start  # e.object is the decoder's buffer + data
                raise RnnkitError(
                    f"{name}: not valid UTF-8 at byte offset {at} (byte 0x{e.object[e.start]:02x}); "
                    "convert the file to UTF-8, or decode lossily with errors='replace' "
                    "(--encoding-errors replace on the command line)") from None
            pos, body = pos + len(data), body + len(data)
            text = held_cr + text
            held_cr = ""
            if text.endswith("\r") and not final:
                text, held_cr = text[:-1], "\r"  # it may be the first half of a "\r\n"
            pending += text.replace("\r\n", "\n").replace("\r", "\n")
            cut = pending.rfind("\n") + 1
            if final:
                cut = len(pending)
            if cut:
                yield pending[:cut]
                pending = pending[cut:]
            if final:
                return


def iter_file_chunks(paths: PathLike | Iterable[PathLike], errors: str = "strict",
                     block: int = _READ_BLOCK) -> Iterator[tuple[int, str]]:
    """``(file index, piece)`` for the text of ``paths``, read a block at a time (flat memory for any size).

    Every piece ends just after a newline, except possibly a file's last one, so tokens never span two
    pieces. ``"".join(piece for _, piece in iter_file_chunks(paths))`` is :func:`read_text`'s result, and
    the same problems raise :class:`RnnkitError` (perhaps after some pieces were yielded).
    """
    if errors not in _ERRORS:
        raise RnnkitError(f"encoding errors mode {errors!r} is unknown; use 'strict' or 'replace'")
    paths = as_path_list(paths)
    if not paths:
        raise RnnkitError("no text files given; give at least one file")
    for i, path in enumerate(paths):
        last = None  # held back, so that the newline between files joins it
        for piece in _file_pieces(path, errors, block):
            if last:
                yield i, last
            last = piece
        if i + 1 < len(paths) and not (last or "").endswith("\n"):
            last = (last or "") + "\n"
        if last:
            yield i, last
