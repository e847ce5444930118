"""The embedded default corpus: the Python standard library's own source code.

With no ``--data``, ``rnnkit lm train`` learns from the ``*.py`` files directly in the running interpreter's
standard-library folder (``sysconfig.get_paths()["stdlib"]``; not its subfolders), sorted by file name and
concatenated: about 4.7 MB of text on CPython 3.11. It needs no download and is always at hand, and code
has structure (indentation, matching brackets, names reused far apart) that shows what a recurrent
model learns over long spans.

Example::

    >>> text = default_corpus()           # str, cached after the first call
    >>> default_corpus_name()
    'python-3.11-stdlib'
"""

from __future__ import annotations

import functools
import sys
import sysconfig
from pathlib import Path

from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError


def default_corpus_files() -> list[Path]:
    """The files of the default corpus, in order: the non-empty top-level ``*.py`` of the stdlib."""
    folder = Path(sysconfig.get_paths()["stdlib"])
    files = sorted((p for p in folder.glob("*.py") if p.is_file() and p.stat().st_size > 0),
                   key=lambda p: p.name)
    if not files:
        raise RnnkitError(f"this Python has no standard-library sources in {folder}, so there is no default "
                          "corpus; give your own text with --data FILE")
    return files


def default_corpus_name() -> str:
    """A short name for the default corpus, such as ``'python-3.11-stdlib'``."""
    return f"python-{sys.version_info.major}.{sys.version_info.minor}-stdlib"


def default_corpus_description() -> str:
    """One line saying what the default corpus is and where it comes from."""
    files = default_corpus_files()
    return (f"{default_corpus_name()}: the source of the {len(files)} top-level modules of the Python "
            f"standard library in {files[0].parent}")


@functools.lru_cache(maxsize=1)
def default_corpus() -> str:
    """The default corpus text (undecodable bytes, should any exist, become U+FFFD)."""
    return read_text(default_corpus_files(), errors="replace")
