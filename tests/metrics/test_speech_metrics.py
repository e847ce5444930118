"""Word and character error rates on cases counted by hand, their edge cases, and that jiwer does the work."""

from __future__ import annotations

import importlib
import math
import sys

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.metrics import MetricsError, error_rates

jiwer = pytest.importorskip("jiwer")


def test_one_deleted_word():
    r = error_rates(["seven one"], ["seven three one"])
    assert r["wer"] == pytest.approx(1 / 3)  # "three" deleted, 3 reference words
    assert r["cer"] == pytest.approx(6 / 15)  # " three" deleted: 6 of the 15 characters "seven three one"
    assert (r["words"], r["chars"], r["word_edits"], r["char_edits"]) == (3, 15, 1, 6)


def test_rates_are_corpus_totals_not_means_of_utterances():
    r = error_rates(["a b c d", "y"], ["a b c d", "x"])
    assert r["wer"] == pytest.approx(1 / 5)  # 1 substitution in 5 words (the mean of 0 and 1 would be 1/2)
    assert r["cer"] == pytest.approx(1 / 8)  # 7 + 1 characters


def test_substitutions_and_insertions_count():
    r = error_rates(["a c d"], ["a b"])
    assert r["wer"] == pytest.approx(2 / 2)  # b → c, d inserted
    assert r["cer"] == pytest.approx(3 / 3)  # b → c, " d" inserted


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_hypothesis_is_all_deletions(empty):
    r = error_rates([empty, "two"], ["seven three one", "two"])
    assert r["wer"] == pytest.approx(3 / 4)
    assert r["cer"] == pytest.approx(15 / 18)


def test_an_empty_reference_is_all_insertions():
    r = error_rates(["oh", "two"], ["", "two"])
    assert (r["words"], r["word_edits"], r["wer"]) == (1, 1, 1.0)
    assert (r["chars"], r["char_edits"]) == (3, 2)
    assert error_rates([""], [""])["wer"] == 0.0  # silence recognised as silence
    assert math.isinf(error_rates(["a"], [""])["wer"])  # an error relative to nothing
    assert error_rates([], []) == {"wer": 0.0, "cer": 0.0, "words": 0, "chars": 0, "word_edits": 0,
                                   "char_edits": 0}


def test_mismatched_lists_are_refused():
    with pytest.raises(MetricsError, match="2 hypotheses for 1 references"):
        error_rates(["a", "b"], ["a"])


def test_jiwer_computes_the_rates(monkeypatch):
    calls = []
    for name in ["process_words", "process_characters"]:
        real = getattr(jiwer, name)
        monkeypatch.setattr(jiwer, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    assert error_rates(["seven one"], ["seven three one"])["wer"] == pytest.approx(1 / 3)
    assert calls == ["process_words", "process_characters"]


def test_without_jiwer_the_module_imports_and_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jiwer", None)  # `import jiwer` now raises ImportError
    speech = importlib.reload(importlib.import_module("rnnkit.metrics.speech"))  # jiwer is not needed to import
    with pytest.raises(RnnkitError, match=r"pip install 'rnnkit\[speech\]'"):
        speech.error_rates(["a"], ["a"])
