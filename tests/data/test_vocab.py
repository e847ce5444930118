"""Tests for rnnkit.data.vocab."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.tokenize import char_tokens, tokenize, word_tokens
from rnnkit.data.vocab import Vocab
from rnnkit.errors import RnnkitError


def test_char_vocab_is_sorted_by_code_point_without_specials():
    v = Vocab.build(char_tokens("banana\n"), "char")
    assert v.tokens == ["\n", "a", "b", "n"]
    assert (v.unk_id, v.eos_id, len(v)) == (None, None, 4)
    assert v.stoi == {"\n": 0, "a": 1, "b": 2, "n": 3}


def test_word_vocab_orders_by_descending_count_then_token():
    v = Vocab.build("b a c a b a d".split(), "word")
    # counts: a 3, b 2, c 1, d 1 (c before d alphabetically)
    assert v.tokens == ["a", "b", "c", "d"]


def test_min_freq_and_max_size_cut_to_unk():
    words = "a a a b b c d".split()
    v = Vocab.build(words, "word", min_freq=2)
    assert v.tokens == ["<UNK>", "a", "b"]
    assert v.encode(["a", "c", "b", "zzz"], unknown="unk") == [1, 0, 2, 0]
    v = Vocab.build(words, "word", max_size=3)  # <UNK> + the 2 most frequent
    assert v.tokens == ["<UNK>", "a", "b"]
    assert Vocab.build(words, "word", max_size=4).tokens == ["a", "b", "c", "d"]  # everything fits


def test_eos_is_a_special_placed_after_unk():
    tokens = tokenize("x y\nx z\n", "word", eos="line") + ["rare"]
    v = Vocab.build(tokens, "word", specials=["<UNK>"])
    assert v.tokens == ["<UNK>", "<EOS>", "x", "rare", "y", "z"]  # x twice, the rest once
    assert (v.unk_id, v.eos_id) == (0, 1)


def test_encode_decode_char_level():
    v = Vocab.build(char_tokens("hello world"), "char")
    ids = v.encode(char_tokens("low"))
    assert [v.tokens[i] for i in ids] == ["l", "o", "w"]
    assert v.decode(ids) == ["l", "o", "w"]


def test_unknown_characters_raise_naming_them():
    v = Vocab.build(char_tokens("abc"), "char")
    with pytest.raises(RnnkitError, match=r"2 characters not in the vocabulary: 'é' \(U\+00E9\), 'z'"):
        v.encode(char_tokens("aébz"))
    with pytest.raises(RnnkitError, match="no <UNK>|<UNK> token"):
        v.encode(["z"], unknown="unk")


def test_decode_rejects_ids_out_of_range():
    v = Vocab(["a", "b"], "char")
    with pytest.raises(RnnkitError, match="token id 2 is out of range for a vocabulary of 2"):
        v.decode([0, 2])


@pytest.mark.parametrize("tokens, level, match", [
    (["a", "a"], "char", "appears twice"),
    (["ab"], "char", "single"),
    (["a", ""], "word", "non-empty"),
    ([], "word", "empty"),
])
def test_constructor_rejects_bad_token_lists(tokens, level, match):
    with pytest.raises(RnnkitError, match=match):
        Vocab(tokens, level)


def test_save_writes_the_documented_json(tmp_path):
    v = Vocab.build(["<EOS>", "b", "a", "b"], "word", specials=["<UNK>"])
    v.save(tmp_path / "vocab.json")
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8")) == {
        "format_version": 1, "level": "word", "tokens": ["<UNK>", "<EOS>", "b", "a"],
        "specials": {"unk": "<UNK>", "eos": "<EOS>"},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temporary file left


@settings(max_examples=50, derandomize=True)
@given(st.text(min_size=1))
def test_char_round_trip_for_any_unicode_text(text):
    v = Vocab.build(char_tokens(text), "char")
    assert "".join(v.decode(v.encode(char_tokens(text)))) == text


@settings(max_examples=50, derandomize=True)
@given(st.lists(st.text(min_size=1, max_size=5), min_size=1))
def test_word_round_trip_of_token_lists(tokens):
    v = Vocab.build(tokens, "word")
    assert v.decode(v.encode(tokens)) == tokens
    assert len(v) == len(set(tokens))


@settings(max_examples=30, derandomize=True, deadline=None)
@given(st.text(min_size=1), st.sampled_from(["char", "word"]), st.integers(1, 3))
def test_save_load_round_trip(tmp_path_factory, text, level, min_freq):
    tokens = char_tokens(text) if level == "char" else word_tokens(text) or ["x"]
    counts = {t: tokens.count(t) for t in tokens}
    if max(counts.values()) < min_freq:
        min_freq = 1
    v = Vocab.build(tokens, level, min_freq=min_freq)
    path = tmp_path_factory.mktemp("v") / "vocab.json"
    v.save(path)
    w = Vocab.load(path)
    assert w == v and w.tokens == v.tokens and w.unk_id == v.unk_id and w.level == level


@pytest.mark.parametrize("content, match", [
    ("{not json", "malformed JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format_version": 2, "level": "char", "tokens": ["a"], "specials": {}}', "newer.*upgrade"),
    ('{"format_version": 1, "level": "byte", "tokens": ["a"], "specials": {}}', "level"),
    ('{"format_version": 1, "level": "word", "tokens": ["a", 3], "specials": {}}', "list of strings"),
    ('{"format_version": 1, "level": "word", "tokens": ["a", "a"], "specials": {}}', "appears twice"),
    ('{"format_version": 1, "level": "word", "tokens": ["<UNK>", "a"], "specials": {"unk": null}}',
     "inconsistent"),
    ('{"format_version": 1, "level": "word", "tokens": ["a"], "specials": {"unk": "?"}}', "specials.unk"),
])
def test_load_rejects_malformed_files_with_the_path(tmp_path, content, match):
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RnnkitError, match=match) as info:
        Vocab.load(path)
    assert str(path) in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(RnnkitError, match="not found"):
        Vocab.load(tmp_path / "nope.json")
