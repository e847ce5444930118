"""Tests for rnnkit.data.text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_reads_utf8_and_strips_bom(tmp_path):
    p = write(tmp_path / "a.txt", b"\xef\xbb\xbfh\xc3\xa9llo \xe6\x97\xa5\n")
    assert read_text(p) == "héllo 日\n"


def test_normalises_mixed_newlines(tmp_path):
    p = write(tmp_path / "a.txt", b"one\r\ntwo\rthree\nfour\r\r\n")
    assert read_text(p) == "one\ntwo\nthree\nfour\n\n"


def test_concatenates_files_with_a_newline_between(tmp_path):
    a = write(tmp_path / "a.txt", b"first")
    b = write(tmp_path / "b.txt", b"second\n")
    c = write(tmp_path / "c.txt", b"third")
    assert read_text([a, b, c]) == "first\nsecond\nthird"
    assert read_text(str(a)) == "first"


def test_undecodable_bytes_name_file_offset_and_the_lossy_option(tmp_path):
    p = write(tmp_path / "latin1.txt", b"\xef\xbb\xbfcaf\xe9 ok")
    with pytest.raises(RnnkitError) as info:
        read_text(p)
    message = str(info.value)
    assert str(p) in message and "byte offset 6" in message and "--encoding-errors replace" in message
    assert read_text(p, errors="replace") == "caf\ufffd ok"


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"\xef\xbb\xbf", "empty"),
    (b"abc\x00def", "NUL byte at byte offset 3"),
    (b"\xff\xfea\x00b\x00", "UTF-16"),
])
def test_empty_and_binary_files_are_refused(tmp_path, data, match):
    p = write(tmp_path / "f.bin", data)
    with pytest.raises(RnnkitError, match=match):
        read_text(p)


def test_missing_file_directory_and_no_files(tmp_path):
    with pytest.raises(RnnkitError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(RnnkitError, match="is a directory"):
        read_text(tmp_path)
    with pytest.raises(RnnkitError, match="no text files"):
        read_text([])
    with pytest.raises(RnnkitError, match="'lossy'"):
        read_text(write(tmp_path / "a.txt", b"a"), errors="lossy")


def test_a_huge_line_is_fine(tmp_path):
    p = write(tmp_path / "long.txt", b"ab" * 3_000_000)
    assert len(read_text(p)) == 6_000_000


@settings(max_examples=50, derandomize=True, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=64),
    st.text(max_size=32).map(lambda s: s.encode("utf-8")),
    st.lists(st.sampled_from([b"\xef\xbb\xbf", b"a", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"\x00"]),
             max_size=12).map(b"".join),
), errors=st.sampled_from(["strict", "replace"]))
def test_any_bytes_read_like_python_universal_newlines_or_raise_rnnkit_error(tmp_path_factory,
                                                                                    data, errors):
    path = tmp_path_factory.mktemp("r") / "f.txt"
    path.write_bytes(data)
    body = data[3:] if data[:3] == b"\xef\xbb\xbf" else data
    try:
        body.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    refused = not body or b"\x00" in body or (errors == "strict" and not valid)
    if refused:
        with pytest.raises(RnnkitError):
            read_text(path, errors=errors)
        return
    text = read_text(path, errors=errors)
    # Independent oracle: Python's text layer with the utf-8-sig codec and universal newlines.
    with open(path, encoding="utf-8-sig", errors=errors, newline=None) as f:
        assert text == f.read()
    assert text and "\r" not in text
