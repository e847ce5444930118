"""The vocabulary: tokens ↔ integer ids, saved as ``vocab.json`` in a run directory.

Ids are positions in ``tokens``. Special tokens come first and exist only when used:
``<UNK>`` stands for tokens cut from the vocabulary (or unseen ones, when asked), ``<EOS>`` ends a line or
a document (see :mod:`rnnkit.data.tokenize`). Neither can be produced by the tokenizers from text, so they
never collide with real tokens.

File format (JSON, UTF-8)::

    {"format_version": 1, "level": "char", "tokens": ["<UNK>", "\\n", " ", "a", ...],
     "specials": {"unk": "<UNK>", "eos": null}}

Example::

    >>> v = Vocab.build(list("hello"), "char")
    >>> v.tokens, v.encode(list("hole"))
    (['e', 'h', 'l', 'o'], [1, 3, 2, 0])
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnkit.data.tokenize import EOS, check_level
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write, read_json

UNK = "<UNK>"
FORMAT_VERSION = 1
_SHOWN = 10  # how many unknown tokens an error message lists


def _describe(tok: str, level: str) -> str:
    if level == "char" and len(tok) == 1:
        return f"{tok!r} (U+{ord(tok):04X})"
    return repr(tok)


class Vocab:
    """Tokens in id order, at ``level`` ``"char"`` or ``"word"``.

    Attributes:
        tokens: list of str, ``tokens[i]`` is the token with id ``i``.
        level: ``"char"`` (each ordinary token is one code point) or ``"word"``.
        stoi: dict token → id.
        unk_id, eos_id: ids of ``<UNK>`` and ``<EOS>``, or None when the vocabulary has none.
    """

    UNK = UNK
    EOS = EOS

    def __init__(self, tokens: Sequence[str], level: str):
        check_level(level)
        tokens = list(tokens)
        stoi: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if not isinstance(tok, str) or tok == "":
                raise RnnkitError(f"vocabulary token {i} is {tok!r}; every token must be a non-empty string")
            if tok in stoi:
                raise RnnkitError(f"vocabulary token {tok!r} appears twice (ids {stoi[tok]} and {i}); "
                                  "each token must appear once")
            if level == "char" and len(tok) != 1 and tok not in (UNK, EOS):
                raise RnnkitError(f"vocabulary token {i} is {tok!r}, but a char-level vocabulary holds single "
                                  "characters (and <UNK>, <EOS>); use level 'word'")
            stoi[tok] = i
        if not tokens:
            raise RnnkitError("the vocabulary is empty; build it from non-empty text")
        self.tokens = tokens
        self.level = level
        self.stoi = stoi

    # --- size and specials --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and (self.level, self.tokens) == (other.level, other.tokens)

    def __repr__(self) -> str:
        return f"Vocab(level={self.level!r}, size={len(self)}, unk_id={self.unk_id}, eos_id={self.eos_id})"

    @property
    def unk_id(self) -> int | None:
        return self.stoi.get(UNK)

    @property
    def eos_id(self) -> int | None:
        return self.stoi.get(EOS)

    # --- encoding -----------------------------------------------------------------------------------

    def encode(self, tokens: Iterable[str], unknown: str = "error") -> list[int]:
        """Map tokens to ids.

        ``unknown="error"`` raises :class:`RnnkitError` naming the tokens not in the vocabulary;
        ``unknown="unk"`` maps them to ``<UNK>`` (which the vocabulary must have).
        """
        if unknown not in ("error", "unk"):
            raise RnnkitError(f"unknown={unknown!r} is not an option; use 'error' or 'unk'")
        tokens = tokens if isinstance(tokens, (list, tuple, str)) else list(tokens)
        stoi = self.stoi
        try:
            return [stoi[t] for t in tokens]
        except KeyError:
            pass
        missing = list(dict.fromkeys(t for t in tokens if t not in stoi))
        shown = ", ".join(_describe(t, self.level) for t in missing[:_SHOWN])
        more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        what = ("character" if self.level == "char" else "token") + ("s" if len(missing) > 1 else "")
        if unknown == "error" or self.unk_id is None:
            fix = ("encode with unknown='unk' to map them to <UNK>" if self.unk_id is not None else
                   "remove them, or rebuild the vocabulary with a <UNK> token (Vocab.build(..., "
                   "specials=['<UNK>'])) or from text that contains them")
            raise RnnkitError(f"{len(missing)} {what} not in the vocabulary: {shown}{more}; {fix}")
        unk_id = self.unk_id
        return [stoi.get(t, unk_id) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Map ids (ints, or a 1-D array or tensor of them) back to tokens."""
        out = []
        n = len(self.tokens)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise RnnkitError(f"token id {i} is out of range for a vocabulary of {n} tokens; "
                                  "the model and the vocabulary do not belong together")
            out.append(self.tokens[i])
        return out

    # --- building -----------------------------------------------------------------------------------

    @classmethod
    def build(cls, tokens: Iterable[str], level: str, min_freq: int = 1, max_size: int | None = None,
              specials: Iterable[str] | None = None) -> Vocab:
        """Count ``tokens`` and build a vocabulary, deterministically.

        Order: specials (``<UNK>`` then ``<EOS>``), then word level by descending count then token,
        char level by code point. Tokens seen fewer than ``min_freq`` times, or beyond ``max_size`` (the
        total size, specials included; the most frequent are kept), are cut and encode to ``<UNK>``.

        ``specials=None`` picks them: ``<UNK>`` when something was cut, ``<EOS>`` when it occurs in
        ``tokens``. An explicit list (of ``"<UNK>"``, ``"<EOS>"``) forces those, plus ``<EOS>`` if it occurs.
        """
        check_level(level)
        if not isinstance(min_freq, int) or min_freq < 1:
            raise RnnkitError(f"min_freq={min_freq!r} is invalid; use an integer >= 1")
        counts = Counter(tokens)
        has_eos = counts.pop(EOS, 0) > 0
        counts.pop(UNK, None)
        wanted = set() if specials is None else set(specials)
        bad = wanted - {UNK, EOS}
        if bad:
            raise RnnkitError(f"unknown special tokens {sorted(bad)}; the specials are '<UNK>' and '<EOS>'")
        if has_eos:
            wanted.add(EOS)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        cut = len(ranked) < len(counts)
        if max_size is not None:
            if not isinstance(max_size, int):
                raise RnnkitError(f"max_size={max_size!r} is invalid; use an integer or None")
            room = max_size - len(wanted)
            if specials is None and (cut or len(ranked) > room):
                room -= 1  # the <UNK> that the cut brings
            if room < 1:
                raise RnnkitError(f"max_size={max_size} leaves no room for ordinary tokens beside the "
                                  "specials; use a larger max_size or None")
            cut = cut or len(ranked) > room
            ranked = ranked[:room]
        if cut and specials is None:
            wanted.add(UNK)
        if level == "char":
            ranked.sort()
        if not ranked:
            raise RnnkitError(f"no token occurs at least min_freq={min_freq} times; lower min_freq "
                              "or give more text")
        return cls([s for s in (UNK, EOS) if s in wanted] + ranked, level)

    # --- serialisation ------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The ``vocab.json`` content as a dict (see module doc)."""
        return {
            "format_version": FORMAT_VERSION,
            "level": self.level,
            "tokens": list(self.tokens),
            "specials": {"unk": UNK if self.unk_id is not None else None,
                         "eos": EOS if self.eos_id is not None else None},
        }

    @classmethod
    def from_dict(cls, d: object, source: str = "vocabulary") -> Vocab:
        """Validate and load a dict as written by :meth:`to_dict`; ``source`` names it in errors."""
        if not isinstance(d, dict):
            raise RnnkitError(f"{source}: expected a JSON object, got {type(d).__name__}; "
                              "is this a vocab.json written by rnnkit?")
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RnnkitError(f"{source}: format_version is {version!r}, expected an integer >= 1; "
                              "is this a vocab.json written by rnnkit?")
        if version > FORMAT_VERSION:
            raise RnnkitError(f"{source}: format_version {version} is newer than this rnnkit reads "
                              f"({FORMAT_VERSION}); upgrade rnnkit")
        level, tokens, specials = d.get("level"), d.get("tokens"), d.get("specials")
        if level not in ("char", "word"):
            raise RnnkitError(f"{source}: level is {level!r}; expected 'char' or 'word'")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise RnnkitError(f"{source}: 'tokens' must be a list of strings")
        if not isinstance(specials, dict):
            raise RnnkitError(f"{source}: 'specials' must be an object like "
                              '{"unk": "<UNK>" or null, "eos": "<EOS>" or null}')
        vocab = _wrap(source, lambda: cls(tokens, level))
        for key, tok, present in (("unk", UNK, vocab.unk_id), ("eos", EOS, vocab.eos_id)):
            named = specials.get(key)
            if named not in (None, tok):
                raise RnnkitError(f"{source}: specials.{key} is {named!r}; expected {tok!r} or null")
            if (named is None) != (present is None):
                raise RnnkitError(f"{source}: specials.{key} is {named!r} but {tok!r} is "
                                  f"{'not ' if present is None else ''}in the tokens; the file is inconsistent")
        return vocab

    def save(self, path: str | os.PathLike) -> None:
        """Write ``vocab.json`` atomically (temporary file in the same folder, then rename)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"
        atomic_write(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read and validate a ``vocab.json``; problems raise :class:`RnnkitError` naming the file."""
        path = Path(path)
        d = read_json(path, "vocabulary file")
        return cls.from_dict(d, source=str(path))


def _wrap(source: str, make):
    try:
        return make()
    except RnnkitError as e:
        raise RnnkitError(f"{source}: {e}") from None
