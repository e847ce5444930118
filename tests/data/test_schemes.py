"""Tag schemes: chunks read as conlleval reads them, conversion round trips, detection, constraints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.data.schemes import chunks, convert, detect_scheme, from_chunks, transitions, valid_sequence
from rnnkit.errors import RnnkitError


def test_chunks_of_each_scheme():
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    # IOB1: I- opens a chunk; B- separates two adjacent chunks of one type
    assert chunks(["I-LOC", "I-LOC", "B-LOC", "O", "I-PER"], "iob1") == [("LOC", 0, 2), ("LOC", 2, 3), ("PER", 4, 5)]
    assert chunks(["S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"], "bioes") == [
        ("PER", 0, 1), ("LOC", 1, 4), ("LOC", 4, 5)]
    # conlleval's reading of ill-formed tags: an I- after O opens a chunk, a change of type closes one
    assert chunks(["O", "I-PER", "I-LOC"]) == [("PER", 1, 2), ("LOC", 2, 3)]
    assert chunks(["NN", "O", "VB"], "none") == [("NN", 0, 1), ("VB", 2, 3)]


spans = st.lists(st.tuples(st.sampled_from(["PER", "LOC"]), st.integers(1, 3), st.integers(0, 2)), max_size=6)


def _layout(items):
    """(chunks, length) from (type, size, gap before) triples."""
    out, at = [], 0
    for ty, size, gap in items:
        at += gap
        out.append((ty, at, at + size))
        at += size
    return out, at + 1


@given(spans)
def test_every_scheme_writes_and_reads_back_the_same_chunks(items):
    spans_, n = _layout(items)
    for scheme in ("iob1", "iob2", "bioes"):
        tags = from_chunks(spans_, n, scheme)
        assert chunks(tags, scheme) == spans_
        assert valid_sequence(tags, scheme)
        for other in ("iob1", "iob2", "bioes"):
            assert convert(convert(tags, scheme, other), other, scheme) == tags


def test_iob1_writes_b_only_between_adjacent_chunks_of_one_type():
    assert from_chunks([("LOC", 0, 2), ("LOC", 2, 3), ("PER", 3, 4)], 5, "iob1") == [
        "I-LOC", "I-LOC", "B-LOC", "I-PER", "O"]


def test_detection():
    assert detect_scheme([["B-PER", "I-PER", "O"], ["O", "B-LOC"]]) == "iob2"
    assert detect_scheme([["I-PER", "I-PER", "O"], ["I-LOC", "B-LOC"]]) == "iob1"
    assert detect_scheme([["S-PER", "O"], ["B-LOC", "E-LOC"]]) == "bioes"
    assert detect_scheme([["NN", "VB"], ["DT"]]) == "none"
    assert detect_scheme([["B-PER", "NN"]]) == "mixed"


def _all_layouts(n):
    """Every set of typed chunks (PER, LOC) over n tokens."""
    def grow(at):
        if at >= n:
            yield []
            return
        yield from grow(at + 1)                                     # token `at` outside
        for end in range(at + 1, n + 1):
            for ty in ("PER", "LOC"):
                for rest in grow(end):
                    yield [(ty, at, end)] + rest
    yield from grow(0)


@pytest.mark.parametrize("scheme", ["iob2", "bioes"])
def test_allowed_transitions_are_exactly_those_of_well_formed_tags(scheme):
    # what the scheme's writer ever produces, over every layout of up to 5 tokens ...
    pairs, starts, ends = set(), set(), set()
    for n in range(1, 6):
        for layout in _all_layouts(n):
            tags = from_chunks(layout, n, scheme)
            starts.add(tags[0]), ends.add(tags[-1])
            pairs.update(zip(tags, tags[1:]))
    names = sorted({t for pair in pairs for t in pair})
    allowed, start, end = transitions(names, scheme)
    # ... is exactly what the constraints allow
    assert {(a, b) for i, a in enumerate(names) for j, b in enumerate(names) if allowed[i][j]} == pairs
    assert {t for t, ok in zip(names, start) if ok} == starts
    assert {t for t, ok in zip(names, end) if ok} == ends


def test_check_tags_names_the_line():
    from rnnkit.data.schemes import check_tags

    with pytest.raises(RnnkitError, match="f.conll:7: the tag 'E-PER' is not valid in IOB2"):
        check_tags(["O", "E-PER"], "iob2", lambda i: f"f.conll:{6 + i}")
    with pytest.raises(RnnkitError, match="'B-'"):
        check_tags(["B-"], "bioes", lambda i: "x")
