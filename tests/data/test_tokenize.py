"""Tests for rnnkit.data.tokenize."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.tokenize import EOS, char_tokens, detokenize, kmer_tokens, tokenize, word_tokens
from rnnkit.errors import RnnkitError


def test_char_tokens_are_code_points_of_any_script():
    text = "añ日\n😀"
    assert char_tokens(text) == ["a", "ñ", "日", "\n", "😀"]


def test_word_tokens_separate_punctuation_and_keep_words_numbers_contractions():
    text = "Don't panic, it's 3.14 and 1,000 (x86)!\nÉté: naïve—ok?"
    assert word_tokens(text) == [
        "Don't", "panic", ",", "it's", "3.14", "and", "1,000", "(", "x86", ")", "!", "\n",
        "Été", ":", "naïve", "—", "ok", "?",
    ]


def test_word_tokens_keep_combining_marks_with_their_letter():
    decomposed = "e\u0301te\u0301 नमस्ते"  # "été" written with combining accents; Hindi with vowel signs
    assert word_tokens(decomposed) == ["e\u0301te\u0301", "नमस्ते"]


def test_word_tokens_drop_spaces_but_keep_every_newline():
    assert word_tokens("  a\t b \n\n c ") == ["a", "b", "\n", "\n", "c"]


def test_detokenize_word_level_is_readable():
    tokens = ["Hello", ",", "world", "!", "(", "see", "page", "3", ")", ".", "\n", "Next", ":", "x", "%"]
    assert detokenize(tokens, "word") == "Hello, world! (see page 3).\nNext: x%"


def test_detokenize_char_level_concatenates_and_writes_eos_as_newline():
    assert detokenize(["a", " ", "b", EOS, "c"], "char") == "a b\nc"


def test_eos_line_replaces_newlines_without_adding_one_at_the_end():
    assert tokenize("ab\nc", "char", eos="line") == ["a", "b", EOS, "c"]
    assert tokenize("hi there.\nbye\n", "word", eos="line") == ["hi", "there", ".", EOS, "bye", EOS]


def test_eos_document_appends_one_eos_and_keeps_newlines():
    assert tokenize("a\nb", "char", eos="document") == ["a", "\n", "b", EOS]
    assert tokenize("a b\n", "word", eos="document") == ["a", "b", "\n", EOS]


def test_tokenize_without_eos_matches_the_level_tokenizer():
    text = "x = f(1, 2)\n"
    assert tokenize(text, "char") == list(text)
    assert tokenize(text, "word") == ["x", "=", "f", "(", "1", ",", "2", ")", "\n"]


@pytest.mark.parametrize("level, eos", [("byte", "none"), ("char", "sentence")])
def test_bad_options_raise_rnnkit_error_naming_the_value(level, eos):
    with pytest.raises(RnnkitError, match="byte|sentence"):
        tokenize("abc", level, eos)


@settings(max_examples=50, derandomize=True)
@given(st.text())
def test_char_detokenize_inverts_tokenize(text):
    assert detokenize(tokenize(text, "char"), "char") == text


@settings(max_examples=50, derandomize=True)
@given(st.text())
def test_word_tokens_survive_detokenize(text):
    tokens = word_tokens(text)
    assert word_tokens(detokenize(tokens, "word")) == tokens
    assert all(t and (t == "\n" or not any(c.isspace() for c in t)) for t in tokens)


@settings(max_examples=50, derandomize=True)
@given(st.lists(st.sampled_from(["a", "b1", "don't", "3.5", "\u0301", "(", ")", ".", ",", "'", "\n", "é"]),
                max_size=20))
def test_word_detokenize_round_trips_token_lists_that_the_tokenizer_makes(pieces):
    # Joining with spaces gives text whose tokens are well defined; detokenize must reproduce them.
    tokens = word_tokens(" ".join(pieces))
    assert word_tokens(detokenize(tokens, "word")) == tokens


# --- k-mers -----------------------------------------------------------------------------------------------------

def test_kmer_tokens_overlap_one_per_start():
    assert kmer_tokens("ACGTA", 3) == ["ACG", "CGT", "GTA"]
    assert kmer_tokens("ACGT", 1) == ["A", "C", "G", "T"]
    assert kmer_tokens("ACGT", 4) == ["ACGT"]


def test_kmer_tokens_of_a_short_or_empty_text():
    assert kmer_tokens("AC", 5) == ["AC"]
    assert kmer_tokens("", 3) == []


@pytest.mark.parametrize("k", [0, -2, 2.0, True, "3"])
def test_kmer_tokens_refuse_a_bad_k(k):
    with pytest.raises(RnnkitError, match="at least 1"):
        kmer_tokens("ACGT", k)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(text=st.text("ACGTN", min_size=1, max_size=30), k=st.integers(1, 8))
def test_kmer_tokens_rebuild_the_text(text, k):
    tokens = kmer_tokens(text, k)
    assert len(tokens) == max(1, len(text) - k + 1)
    assert all(len(t) == min(k, len(text)) for t in tokens)
    assert tokens[0] + "".join(t[-1] for t in tokens[1:]) == text
