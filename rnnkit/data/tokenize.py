"""Tokenizers for language models: text → tokens → text.

Two levels:

- ``"char"``: one token per Unicode code point, of any script; the newline ``"\\n"`` is a token like any other.
- ``"word"``: words (letters, digits and ``_``, with apostrophes inside such as ``don't`` kept whole),
  numbers (``3.14``, ``1,000`` kept whole), and every other non-space character as a token of its own.
  Spaces and tabs are dropped; each newline becomes the token ``"\\n"`` so that lines survive.
  Combining marks (accents written as a separate code point, emoji variation selectors) stay attached to
  the character they modify.

End-of-sequence marking, ``eos``:

- ``"none"``: the tokens as above.
- ``"line"``: every newline becomes ``<EOS>`` (at char level the newline character, at word level the
  ``"\\n"`` token). A final line without a newline gets no ``<EOS>``, so a prime for sampling is tokenized
  by the same call without a spurious end.
- ``"document"``: one ``<EOS>`` after the last token of the text (newlines stay as they are).

Example::

    >>> tokenize("Don't panic, 42.\\n", "word", eos="line")
    ["Don't", 'panic', ',', '42', '.', '<EOS>']
    >>> detokenize(["Don't", 'panic', ',', '42', '.'], "word")
    "Don't panic, 42."
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from rnnkit.errors import RnnkitError

EOS = "<EOS>"
LEVELS = ("char", "word")
EOS_MODES = ("none", "line", "document")

# A newline; a number with separators; a word (apostrophes inside); any other non-space character.
_TOKEN = re.compile(r"\n|\d+(?:[.,]\d+)+|\w+(?:['’]\w+)*|[^\w\s]")
_WORD_START = re.compile(r"\w")

# Readable joining: no space before closing punctuation, none after opening brackets.
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%…")
_NO_SPACE_AFTER = frozenset("([{¿¡")


def check_level(level: str) -> str:
    """Return ``level`` if it is ``"char"`` or ``"word"``, else raise :class:`RnnkitError`."""
    if level not in LEVELS:
        raise RnnkitError(f"unknown tokenization level {level!r}; use one of: {', '.join(LEVELS)}")
    return level


def _check_eos(eos: str) -> str:
    if eos not in EOS_MODES:
        raise RnnkitError(f"unknown eos mode {eos!r}; use one of: {', '.join(EOS_MODES)}")
    return eos


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def char_tokens(text: str) -> list[str]:
    """Split ``text`` into its Unicode code points (``"\\n"`` included)."""
    return list(text)


def word_tokens(text: str) -> list[str]:
    """Split ``text`` into words, numbers, single punctuation characters and ``"\\n"`` tokens.

    Whitespace other than ``"\\n"`` separates tokens and is dropped.
    """
    tokens = _TOKEN.findall(text)
    if not any(_is_mark(t[0]) for t in set(tokens)):
        return tokens  # the common case, in C: no combining mark to attach
    return _word_tokens_with_marks(text)


def _word_tokens_with_marks(text: str) -> list[str]:
    """:func:`word_tokens` for text with combining marks: attach each to the token before it."""
    tokens: list[str] = []
    prev_end = -1
    prev_is_word = False
    for m in _TOKEN.finditer(text):
        tok = m.group()
        is_word = _WORD_START.match(tok) is not None
        if tokens and m.start() == prev_end and tokens[-1] != "\n" and tok != "\n":
            # A combining mark belongs to the character before it, and a word goes on after one.
            if _is_mark(tok[0]) or (is_word and prev_is_word and _is_mark(tokens[-1][-1])):
                tokens[-1] += tok
                prev_end = m.end()
                continue
        tokens.append(tok)
        prev_end = m.end()
        prev_is_word = is_word
    return tokens


def tokenize(text: str, level: str, eos: str = "none") -> list[str]:
    """Tokenize ``text`` at ``level`` (``"char"`` | ``"word"``) with end marking ``eos`` (see module doc)."""
    check_level(level)
    _check_eos(eos)
    tokens = char_tokens(text) if level == "char" else word_tokens(text)
    if eos == "line":
        tokens = [EOS if t == "\n" else t for t in tokens]
    elif eos == "document":
        tokens.append(EOS)
    return tokens


def detokenize(tokens: Iterable[str], level: str) -> str:
    """Join tokens back into readable text; ``<EOS>`` is written as a newline.

    Char level concatenates. Word level puts one space between tokens, except around newlines, before
    closing punctuation (``. , ; : ! ? ) ] } %``) and after opening brackets; ``word_tokens`` of the result
    gives the same tokens back.
    """
    check_level(level)
    tokens = ["\n" if t == EOS else t for t in tokens]
    if level == "char":
        return "".join(tokens)
    parts: list[str] = []
    prev = "\n"  # the start of the text behaves like the start of a line
    for tok in tokens:
        glued = (
            prev == "\n"
            or tok == "\n"
            or tok in _NO_SPACE_BEFORE
            or (prev in _NO_SPACE_AFTER and not (tok and _is_mark(tok[0])))
        )
        if parts and not glued:
            parts.append(" ")
        parts.append(tok)
        prev = tok
    return "".join(parts)


def kmer_tokens(text: str, k: int) -> list[str]:
    """Overlapping k-mers of ``text`` (the ``--level kmer`` tokens of biological sequences), one per start.

    A text shorter than ``k`` is one token, itself; an empty text has none. Any character counts, so strip
    newlines and spaces first if they are not part of the sequence.

    Example::

        >>> kmer_tokens("ACGTA", 3)
        ['ACG', 'CGT', 'GTA']
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RnnkitError(f"k-mer length k must be a whole number of at least 1, got {k!r}")
    if len(text) <= k:
        return [text] if text else []
    return [text[i: i + k] for i in range(len(text) - k + 1)]
