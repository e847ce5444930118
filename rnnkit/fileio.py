"""Atomic file writes and careful JSON reads: the one place files are replaced or parsed.

A file is never written in place: it goes to a temporary file in the same folder, is flushed to disk, and
then renamed over the target (``os.replace`` is atomic), so a process killed at any instant leaves either the
old file or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from rnnkit.errors import RnnkitError


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (best effort: not every file system supports it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs):
    """``with atomic_open(path) as f: f.write(...)``: ``path`` appears complete when the block ends, or not
    at all if it raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` atomically (text is written as UTF-8)."""
    with atomic_open(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path, what: str = "file"):
    """Parse a JSON file; a missing, unreadable or malformed one is a clear :class:`RnnkitError` naming ``what``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RnnkitError(f"{path}: {what} not found; is this a run directory written by 'rnnkit ... train'?") \
            from None
    except OSError as e:
        raise RnnkitError(f"{path}: cannot read the {what} ({e.strerror})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RnnkitError(f"{path}: not UTF-8 (byte offset {e.start}); the {what} is corrupt") from None
    except json.JSONDecodeError as e:
        raise RnnkitError(f"{path}: malformed JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                          f"the {what} is truncated or corrupt") from None
