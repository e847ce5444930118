"""The streaming reader (:func:`iter_file_chunks`, block by block) reads exactly what :func:`read_text` reads,
and refuses exactly what it refuses, for any bytes and any block size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.text import iter_file_chunks, read_text
from rnnkit.errors import RnnkitError

PIECES = [b"\xef\xbb\xbf", b"a", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"\x00", b"\xe6\x97\xa5", b"\xe6\x97",
          b"\xff\xfe", b"xyz", b"\xf0\x9f\x98\x80"]
FILE = st.one_of(st.binary(max_size=40), st.lists(st.sampled_from(PIECES), max_size=16).map(b"".join))


def _read(fn):
    try:
        return fn(), None
    except RnnkitError as e:
        return None, str(e)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(files=st.lists(FILE, min_size=1, max_size=3), errors=st.sampled_from(["strict", "replace"]),
       block=st.sampled_from([1, 2, 3, 5, 1 << 20]))
def test_streamed_pieces_join_to_read_text(tmp_path_factory, files, errors, block):
    folder = tmp_path_factory.mktemp("f")
    paths = []
    for i, data in enumerate(files):
        paths.append(folder / f"{i}.txt")
        paths[-1].write_bytes(data)
    want, want_error = _read(lambda: read_text(paths, errors))
    pieces, error = _read(lambda: list(iter_file_chunks(paths, errors, block)))
    assert (want_error is None) == (error is None), (want_error, error)
    if block >= 1 << 20:
        assert error == want_error  # whole files in one block: the same message
    if want is not None:
        assert "".join(p for _, p in pieces) == want
        assert all(p.endswith("\n") for (i, p), (j, _) in zip(pieces, pieces[1:]) if i == j)  # cut after newlines
        assert [i for i, _ in pieces] == sorted(i for i, _ in pieces)


def test_a_huge_file_streams_in_bounded_pieces(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"line of text\r\n" * 20_000)
    pieces = [p for _, p in iter_file_chunks(path, block=4096)]
    assert len(pieces) > 50 and max(map(len, pieces)) <= 4096
    assert "".join(pieces) == read_text(path)


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"\xef\xbb\xbf", "empty"), (b"ab\x00", "NUL byte at "
                                           "byte offset 2"), (b"ok\n" * 5 + b"\xff", "byte offset 15")])
def test_errors_name_the_file_and_the_offset(tmp_path, data, message):
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    with pytest.raises(RnnkitError, match=message):
        list(iter_file_chunks(path, block=4))
