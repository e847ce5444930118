"""Tests for rnnkit.data.embeddings: word2vec/GloVe text files → vectors for a vocabulary."""

from __future__ import annotations

import gzip

import pytest
import torch

from rnnkit.data.embeddings import load_embeddings
from rnnkit.errors import RnnkitError

GLOVE = "the 0.1 0.2 0.3\nparis 1 2 3\ncat -1 -2 -3.5\n"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_glove_vectors_for_the_vocabulary(tmp_path):
    p = write(tmp_path, "g.txt", GLOVE)
    vectors, found, dim = load_embeddings(p, ["<UNK>", "cat", "the", "dog"])
    assert dim == 3 and vectors.dtype == torch.float32 and vectors.shape == (4, 3)
    assert found.tolist() == [False, True, True, False]
    assert torch.equal(vectors, torch.tensor([[0, 0, 0], [-1, -2, -3.5], [0.1, 0.2, 0.3], [0, 0, 0]]))


def test_word2vec_header_line_sets_the_dimension(tmp_path):
    p = write(tmp_path, "w.vec", "3 2\nthe 1 2\nof 3 4 \nand 5 6\n")  # word2vec writes a space before the newline
    vectors, found, dim = load_embeddings(p, ["of"])
    assert dim == 2 and found.tolist() == [True] and vectors.tolist() == [[3.0, 4.0]]


def test_lower_case_fallback_prefers_an_exact_match(tmp_path):
    p = write(tmp_path, "g.txt", "paris 1 1\nthe 2 2\nThe 3 3\n")
    vectors, found, _ = load_embeddings(p, ["Paris", "The", "PARIS"])
    assert found.tolist() == [True, True, True]
    assert vectors[:, 0].tolist() == [1.0, 3.0, 1.0]  # "The" exists itself; the others fall back to "paris"
    vectors, found, _ = load_embeddings(p, ["Paris", "The"], lower_fallback=False)
    assert found.tolist() == [False, True] and vectors[0].tolist() == [0.0, 0.0]


def test_first_line_of_a_word_wins_and_reading_stops_once_all_are_found(tmp_path):
    p = write(tmp_path, "g.txt", "a 1 1\nb 2 2\na 9 9\nbroken line\n")  # never reached: a and b are found first
    vectors, found, _ = load_embeddings(p, ["b", "a"])
    assert vectors.tolist() == [[2.0, 2.0], [1.0, 1.0]] and found.all()


def test_words_with_spaces_and_unicode(tmp_path):
    p = write(tmp_path, "g.txt", "x 0 0\n. . . 1 2\ncafé 3 4\nnon\u00a0breaking 5 6\n")
    vectors, found, _ = load_embeddings(p, [". . .", "café", "non\u00a0breaking"])
    assert found.all() and vectors.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_gzipped_file(tmp_path):
    p = tmp_path / "g.txt.gz"
    p.write_bytes(gzip.compress(GLOVE.encode()))
    vectors, found, dim = load_embeddings(p, ["paris"])
    assert dim == 3 and vectors.tolist() == [[1.0, 2.0, 3.0]]


def test_no_tokens_still_gives_the_dimension(tmp_path):
    vectors, found, dim = load_embeddings(write(tmp_path, "g.txt", GLOVE), [])
    assert dim == 3 and vectors.shape == (0, 3) and found.shape == (0,)


def error(call, *parts):
    with pytest.raises(RnnkitError) as info:
        call()
    assert "\n" not in str(info.value)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


def test_inconsistent_dimensions_name_the_line(tmp_path):
    p = write(tmp_path, "g.txt", "a 1 2 3\nb 1 2\n")
    error(lambda: load_embeddings(p, ["zzz"]), f"{p}:2", "2 values", "have 3")
    q = write(tmp_path, "h.txt", "a 1 2\nb 1 2 3\n")
    error(lambda: load_embeddings(q, ["zzz"]), f"{q}:2", "3 values", "have 2")
    r = write(tmp_path, "w.vec", "2 4\na 1 2 3\n")
    error(lambda: load_embeddings(r, ["a"]), f"{r}:2", "3 values", "have 4")


def test_bad_files(tmp_path):
    error(lambda: load_embeddings(tmp_path / "none.txt", ["a"]), "none.txt", "no such file")
    e = write(tmp_path, "e.txt", "")
    error(lambda: load_embeddings(e, ["a"]), str(e), "no vectors")
    h = write(tmp_path, "h.txt", "10 3\n")
    error(lambda: load_embeddings(h, ["a"]), str(h), "no vectors")
    n = write(tmp_path, "n.txt", "a 1 x\n")
    error(lambda: load_embeddings(n, ["a"]), f"{n}:1", "not a number")
    nan = write(tmp_path, "nan.txt", "b 1 2\na 1 nan\n")
    error(lambda: load_embeddings(nan, ["a"]), f"{nan}:2", "NaN")
    big = write(tmp_path, "big.txt", "a 1 1e39\n")
    error(lambda: load_embeddings(big, ["a"]), f"{big}:1", "float32")
    w = write(tmp_path, "w.txt", "word\n")
    error(lambda: load_embeddings(w, ["a"]), f"{w}:1", "without a vector")
    latin = write(tmp_path, "l.txt", b"caf\xe9 1 2\n")
    error(lambda: load_embeddings(latin, ["a"]), f"{latin}:1", "UTF-8")
    vectors, found, _ = load_embeddings(latin, ["caf\ufffd"], errors="replace")
    assert found.tolist() == [True]
    gz = write(tmp_path, "bad.gz", b"\x1f\x8b\x08\x00 not really gzip")
    error(lambda: load_embeddings(gz, ["a"]), str(gz), "cannot read")
