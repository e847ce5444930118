"""Tests for rnnkit.data.cache."""

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import cache
from rnnkit.data.cache import encode_to_memmap, ids_dtype
from rnnkit.data.text import read_text
from rnnkit.data.tokenize import tokenize
from rnnkit.data.vocab import Vocab
from rnnkit.errors import RnnkitError

TEXT = "The cat sat.\nThe dog, too!\r\nAnd é…\n"


@pytest.fixture
def files(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(TEXT.encode("utf-8"))
    b.write_bytes(b"No newline at end: 42")
    return [a, b]


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("eos", ["none", "line"])
def test_equals_direct_encoding_of_the_files(tmp_path, files, level, eos):
    text = read_text(files)
    vocab = Vocab.build(tokenize(text, level, eos), level)
    ids = encode_to_memmap(vocab, tmp_path / "cache", paths=files, eos=eos)
    assert isinstance(ids, np.memmap) and ids.dtype == np.uint16
    assert ids.tolist() == vocab.encode(tokenize(text, level, eos))


def test_document_eos_ends_every_file(tmp_path, files):
    texts = [f.read_text(encoding="utf-8").replace("\r\n", "\n") for f in files]
    texts[0] += "" if texts[0].endswith("\n") else "\n"
    expected_tokens = tokenize(texts[0], "word", "document") + tokenize(texts[1], "word", "document")
    vocab = Vocab.build(expected_tokens, "word")
    ids = encode_to_memmap(vocab, tmp_path, paths=files, eos="document")
    assert vocab.decode(ids) == expected_tokens
    assert vocab.decode(ids).count("<EOS>") == 2


def test_chunked_encoding_equals_whole_encoding(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_CHUNK_CHARS", 7)  # many chunks, cut after newlines
    text = "".join(f"line {i}, e\u0301 x{i * i}.\n\n" for i in range(50)) + "tail"
    vocab = Vocab.build(tokenize(text, "word", "line"), "word")
    ids = encode_to_memmap(vocab, tmp_path, text=text, eos="line")
    assert ids.tolist() == vocab.encode(tokenize(text, "word", "line"))


def test_second_call_reuses_the_file_without_encoding(tmp_path, files, monkeypatch):
    vocab = Vocab.build(tokenize(read_text(files), "char"), "char")
    first = encode_to_memmap(vocab, tmp_path / "c", paths=files)
    cached = Path(first.filename)
    assert cached.parent == tmp_path / "c"
    mtime = cached.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("encoded again instead of reusing the cache")

    monkeypatch.setattr(cache, "_encode_documents", fail)
    second = encode_to_memmap(vocab, tmp_path / "c", paths=files)
    assert second.filename == first.filename and np.array_equal(first, second)
    assert cached.stat().st_mtime_ns == mtime
    assert list((tmp_path / "c").iterdir()) == [cached]


def test_changed_content_or_options_give_a_new_cache_file(tmp_path, files):
    vocab = Vocab.build(tokenize(read_text(files), "char", "document"), "char")  # has "\n" and <EOS>
    a = encode_to_memmap(vocab, tmp_path, paths=files)
    b = encode_to_memmap(vocab, tmp_path, paths=files, eos="line")
    files[1].write_bytes(b"No newline at end: 24")
    c = encode_to_memmap(vocab, tmp_path, paths=files)
    assert len({a.filename, b.filename, c.filename}) == 3
    assert c.tolist() == vocab.encode(tokenize(read_text(files), "char"))


def test_large_vocabularies_use_uint32(tmp_path):
    words = [f"w{i}" for i in range(70_000)]
    vocab = Vocab(words, "word")
    ids = encode_to_memmap(vocab, tmp_path, text="w69999 w0 w65536")
    assert ids.dtype == np.uint32 == ids_dtype(70_000)
    assert ids.tolist() == [69999, 0, 65536]
    assert ids_dtype(65535) == np.uint16


def test_errors_are_rnnkit_errors_and_leave_no_partial_file(tmp_path):
    vocab = Vocab.build(list("abc"), "char")
    with pytest.raises(RnnkitError, match="'z'"):
        encode_to_memmap(vocab, tmp_path, text="abz")
    with pytest.raises(RnnkitError, match="<EOS>"):
        encode_to_memmap(vocab, tmp_path, text="ab\n", eos="line")
    with pytest.raises(RnnkitError, match="exactly one"):
        encode_to_memmap(vocab, tmp_path)
    with pytest.raises(RnnkitError, match="no tokens"):
        encode_to_memmap(Vocab(["a"], "word"), tmp_path, text="  \t ")
    assert list(tmp_path.iterdir()) == []
