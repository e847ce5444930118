"""Tag schemes for chunks (entities): IOB1, IOB2, BIOES, and plain tags; reading chunks, converting, checking.

A chunk (an entity) is a span of tokens with a type. The schemes write it as:

=========  ========================================  ===========================
scheme     "New York is big" with New York a LOC     the rule
=========  ========================================  ===========================
``iob2``   ``B-LOC I-LOC O O``                       every chunk opens with ``B-``
``iob1``   ``I-LOC I-LOC O O``                       ``B-`` only where a chunk follows one of its type
``bioes``  ``B-LOC E-LOC O O``, one token ``S-LOC``  ``B-`` begin, ``I-`` inside, ``E-`` end, ``S-`` single
``none``   any tags (``NN``, ``VB`` …)               no chunks: each non-``O`` token is one of its tag
=========  ========================================  ===========================

Reading chunks (:func:`chunks`) follows the CoNLL shared task's ``conlleval`` for ``B``/``I``/``O`` tags, and
its usual extension to ``E``/``S`` (the ``seqeval`` package's default mode). An ill-formed sequence has one
reading, the one ``conlleval`` gives: an ``I-X`` after ``O`` or after another type starts a chunk, a type
change ends one. Such tags are accepted, not refused; only a tag outside the scheme's alphabet (``E-X`` in
IOB2, ``Q-X``, ``B-`` without a type) is an error.

Example::

    >>> chunks(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> convert(["I-LOC", "I-LOC", "B-LOC", "O"], "iob1", "bioes")
    ['B-LOC', 'E-LOC', 'S-LOC', 'O']
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.errors import RnnkitError

SCHEMES = ("iob1", "iob2", "bioes", "none")
OUTSIDE = "O"
_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}

Chunk = tuple[str, int, int]          # (type, start, end): tokens start … end − 1


def split_tag(tag: str) -> tuple[str, str]:
    """(prefix, type): ``"B-PER"`` → ``("B", "PER")``, ``"O"`` → ``("O", "")``."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    return tag[0], tag[2:]


def _ends(prev: str, prev_type: str, tag: str, type_: str) -> bool:
    """Whether a chunk ends just before ``tag`` (conlleval's ``endOfChunk``, with E and S)."""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", OUTSIDE):
        return True
    return prev != OUTSIDE and prev_type != type_


def _starts(prev: str, prev_type: str, tag: str, type_: str) -> bool:
    """Whether a chunk starts at ``tag`` (conlleval's ``startOfChunk``, with E and S)."""
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev in ("E", "S", OUTSIDE):
        return True
    return tag != OUTSIDE and prev_type != type_


def chunks(tags: Sequence[str], scheme: str = "iob2") -> list[Chunk]:
    """The chunks ``(type, start, end)`` of one sentence's tags, in order (see module doc).

    For ``none`` every token whose tag is not ``O`` is a chunk of one token, typed by its tag."""
    if scheme == "none":
        return [(t, i, i + 1) for i, t in enumerate(tags) if t != OUTSIDE]
    out: list[Chunk] = []
    prev, prev_type, start = OUTSIDE, "", None
    for i, tag in enumerate(tags):
        p, type_ = split_tag(tag)
        if start is not None and _ends(prev, prev_type, p, type_):
            out.append((prev_type, start, i))
            start = None
        if _starts(prev, prev_type, p, type_):
            start = i
        prev, prev_type = p, type_
    if start is not None:
        out.append((prev_type, start, len(tags)))
    return out


def from_chunks(spans: Sequence[Chunk], length: int, scheme: str) -> list[str]:
    """The tags of ``length`` tokens holding the (non-overlapping, ordered) chunks ``spans`` in ``scheme``."""
    tags = [OUTSIDE] * length
    last_end, last_type = -1, None
    for type_, start, end in spans:
        if scheme == "none":
            tags[start:end] = [type_] * (end - start)
            continue
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{type_}"
        else:
            if scheme == "iob1":
                first = "B" if (last_end == start and last_type == type_) else "I"
            else:
                first = "B"
            tags[start] = f"{first}-{type_}"
            for i in range(start + 1, end):
                tags[i] = f"I-{type_}"
            if scheme == "bioes":
                tags[end - 1] = f"E-{type_}"
        last_end, last_type = end, type_
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """``tags`` read in the ``source`` scheme, written in the ``target`` scheme (the same chunks)."""
    if source == target:
        return list(tags)
    if "none" in (source, target):
        raise ValueError(f"plain tags cannot be converted to or from {target if source == 'none' else source}")
    return from_chunks(chunks(tags, source), len(tags), target)


def valid_tag(tag: str, scheme: str) -> bool:
    """Whether ``tag`` belongs to ``scheme``'s alphabet (``O``, or a prefix letter, ``-``, and a type)."""
    if scheme == "none" or tag == OUTSIDE:
        return True
    return len(tag) > 2 and tag[1] == "-" and tag[0] in _PREFIXES[scheme] and tag[2:].strip() == tag[2:]


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """The scheme that training tags are written in: ``bioes`` if ``E-``/``S-`` occur; otherwise ``iob1`` if
    chunks open with ``I-`` and every ``B-`` follows a chunk of its own type; ``iob2`` if they open with
    ``B-``; ``none`` when no tag has a ``B-``/``I-``/``E-``/``S-`` prefix."""
    prefixed = plain = False
    has_es = b_opens = i_opens = False
    for tags in sentences:
        prev, prev_type = OUTSIDE, ""
        for tag in tags:
            p, type_ = split_tag(tag)
            if tag == OUTSIDE:
                pass
            elif len(tag) > 2 and tag[1] == "-" and p in "BIES":
                prefixed = True
                has_es |= p in "ES"
                follows_own = prev != OUTSIDE and prev_type == type_
                b_opens |= p == "B" and not follows_own
                i_opens |= p == "I" and not follows_own
            else:
                plain = True
            prev, prev_type = p, type_
    if not prefixed:
        return "none"
    if plain:
        return "mixed"
    if has_es:
        return "bioes"
    return "iob1" if i_opens and not b_opens else "iob2"


def check_tags(tags: Sequence[str], scheme: str, where) -> None:
    """An error naming ``where(i)`` (a file and line) for the first tag outside ``scheme``'s alphabet."""
    for i, tag in enumerate(tags):
        if not valid_tag(tag, scheme):
            allowed = ", ".join(f"{p}-TYPE" for p in _PREFIXES[scheme])
            raise RnnkitError(f"{where(i)}: the tag {tag!r} is not valid in {scheme.upper()} (tags are O, "
                              f"{allowed}); fix the tag, or give the right --scheme")


def transitions(tag_names: Sequence[str], scheme: str):
    """Which tag may follow which in ``scheme``: ``(allowed (K, K), may_start (K,), may_end (K,))`` as nested
    lists of bools, ``allowed[i][j]`` for tag j right after tag i.

    BIOES: ``B-X``/``I-X`` are followed by ``I-X`` or ``E-X``; ``O``, ``E-X`` and ``S-X`` by ``O``, ``B-Y`` or
    ``S-Y``; a sentence starts with ``O``, ``B-`` or ``S-`` and ends with ``O``, ``E-`` or ``S-``. IOB2: ``I-X``
    only after ``B-X`` or ``I-X``. IOB1 and plain tags: every sequence is valid."""
    K = len(tag_names)
    parts = [split_tag(t) for t in tag_names]
    allowed = [[True] * K for _ in range(K)]
    start, end = [True] * K, [True] * K
    if scheme == "iob2":
        for j, (p, type_) in enumerate(parts):
            if p == "I":
                start[j] = False
                for i, (q, prev_type) in enumerate(parts):
                    allowed[i][j] = q in ("B", "I") and prev_type == type_
    elif scheme == "bioes":
        for i, (q, prev_type) in enumerate(parts):
            inside = q in ("B", "I")
            end[i] = not inside
            for j, (p, type_) in enumerate(parts):
                continues = p in ("I", "E")
                allowed[i][j] = (continues and type_ == prev_type) if inside else not continues
        for j, (p, _) in enumerate(parts):
            start[j] = p not in ("I", "E")
    return allowed, start, end


def valid_sequence(tags: Sequence[str], scheme: str) -> bool:
    """Whether ``tags`` obey :func:`transitions` (start, each step, end)."""
    if not tags:
        return True
    names = sorted(set(tags))
    index = {t: i for i, t in enumerate(names)}
    allowed, start, end = transitions(names, scheme)
    ids = [index[t] for t in tags]
    return start[ids[0]] and end[ids[-1]] and all(allowed[a][b] for a, b in zip(ids, ids[1:]))
