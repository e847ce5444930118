"""CTC decoding against brute force: every frame path of a tiny case enumerated, collapsed and summed by hand.

The references here (``_collapse``, ``_labelling_log_probs``, ``_best_path_frames``) are written from the
definition ``P(l | x) = Σ_{π : B(π) = l} Π_t ŷ<t>[π<t>]`` and never call the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import RnnkitError
from rnnkit.models.ctc_decoding import (
    CTCHypothesis,
    Lexicon,
    alignment_times,
    greedy_decode,
    prefix_beam_search,
    word_times,
)

SYMBOLS = ["<blank>", " ", "a", "c", "t", "u", "d", "o", "g"]
ID = {s: i for i, s in enumerate(SYMBOLS)}


def _collapse(path) -> tuple[int, ...]:
    """B(π): merge runs of equal symbols, then drop the blanks (0)."""
    merged = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
    return tuple(s for s in merged if s != 0)


def _labelling_log_probs(lp: np.ndarray) -> dict[tuple[int, ...], float]:
    """log P(l | x) of every labelling reachable in T frames, by summing all C^T paths."""
    T, C = lp.shape
    sums: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(C), repeat=T):
        l = _collapse(path)
        sums[l] = sums.get(l, 0.0) + math.exp(sum(lp[t, s] for t, s in enumerate(path)))
    return {l: math.log(p) for l, p in sums.items()}


def _text(labels) -> str:
    return "".join(SYMBOLS[c] for c in labels)


def _random_log_probs(rng, T: int, C: int) -> np.ndarray:
    return np.log(rng.dirichlet(np.ones(C), size=T))


def _frames(*rows: dict[str, float]) -> np.ndarray:
    """(T, C) log-probabilities from per-frame {symbol: probability}; the rest share what is left."""
    out = []
    for row in rows:
        p = np.zeros(len(SYMBOLS))
        for s, v in row.items():
            p[ID[s]] = v
        rest = p == 0
        p[rest] = (1 - p.sum()) / rest.sum()
        out.append(p)
    return np.log(np.array(out))


def _peaked(rng, T: int, C: int, q_min: float) -> np.ndarray:
    """Frames whose most probable symbol (often the blank, to make repeats and merges common) has q > q_min."""
    probs = np.empty((T, C))
    for t in range(T):
        top = 0 if rng.random() < 0.4 else rng.integers(C)
        q = rng.uniform(q_min, 1.0)
        probs[t] = (1 - q) * rng.dirichlet(np.ones(C))
        probs[t, top] = q
    return np.log(probs)


# --- the loss the model trains with ----------------------------------------------------------------------------

@pytest.mark.parametrize("T", [1, 2, 3, 4, 5])
def test_torch_ctc_loss_is_minus_log_of_the_sum_over_alignments(T):
    rng = np.random.default_rng(T)
    lp = _random_log_probs(rng, T, 3)
    sums = _labelling_log_probs(lp)
    for target in [(), (1,), (2,), (1, 1), (1, 2), (2, 2), (2, 1)]:
        loss = F.ctc_loss(torch.tensor(lp)[:, None], torch.tensor([list(target) or [1]]), torch.tensor([T]),
                          torch.tensor([len(target)]), blank=0, reduction="none", zero_infinity=False)
        expected = -sums[target] if target in sums else math.inf  # unreachable in T frames: P = 0
        assert loss.item() == pytest.approx(expected, rel=1e-9), target


# --- best path ---------------------------------------------------------------------------------------------------

def test_greedy_collapses_repeats_and_removes_blanks_and_ignores_padding():
    a, b = ID["a"], ID["c"]
    best = [a, a, 0, a, b, b, 0]  # a a - a b b -  →  a a b
    lp = torch.full((2, 7, len(SYMBOLS)), -5.0)
    lp[0, torch.arange(7), torch.tensor(best)] = -0.1
    lp[1, torch.arange(7), torch.tensor([b, 0, b, a, a, a, a])] = -0.1  # 3 real frames, then padding
    assert greedy_decode(lp, torch.tensor([7, 3])) == [[a, a, b], [b, b]]
    assert greedy_decode(lp.numpy()) == [[a, a, b], [b, b, a]]


# --- prefix beam search ------------------------------------------------------------------------------------------

def test_a_wide_beam_is_exact_on_enumerable_cases():
    rng = np.random.default_rng(0)
    for _ in range(40):
        T = int(rng.integers(1, 7))
        lp = _random_log_probs(rng, T, 3)
        sums = _labelling_log_probs(lp)
        hyps = prefix_beam_search(lp, beam_size=1000)
        assert sorted(tuple(h.labels) for h in hyps) == sorted(sums)  # every labelling, each once
        for h in hyps:
            assert h.log_prob == pytest.approx(sums[tuple(h.labels)], abs=1e-10)
        assert tuple(hyps[0].labels) == max(sums, key=sums.get)
        assert all(x.log_prob >= y.log_prob for x, y in zip(hyps, hyps[1:]))


def test_a_wide_beam_finds_the_labelling_the_best_path_misses():
    lp = np.log([[0.6, 0.4], [0.6, 0.4]])  # best path "- -" (0.36); P(a) = 0.4·0.6 + 0.6·0.4 + 0.4·0.4 = 0.64
    assert greedy_decode(lp[None]) == [[]]
    best = prefix_beam_search(lp, beam_size=4)[0]
    assert best.labels == [1]
    assert best.log_prob == pytest.approx(math.log(0.64))


def test_beam_one_equals_greedy_when_every_frame_is_peaked():
    rng = np.random.default_rng(1)
    for _ in range(300):
        T, C = int(rng.integers(1, 20)), int(rng.integers(2, 5))
        lp = _peaked(rng, T, C, q_min=0.75)
        assert prefix_beam_search(lp, beam_size=1)[0].labels == greedy_decode(lp[None])[0]


def test_beam_one_and_greedy_differ_on_the_documented_flat_case():
    lp = np.log([[0.4, 0.6], [0.7, 0.3], [0.4, 0.6]])  # best path a - a
    assert greedy_decode(lp[None]) == [[1, 1]]
    (hyp,) = prefix_beam_search(lp, beam_size=1)
    # beam 1 keeps only "a" after frame 1; at frame 3: a stays with 0.6·0.7·0.4 + 0.6·0.3·0.4 + 0.6·0.3·0.6
    # = 0.348, a a needs the blank: 0.6·0.7·0.6 = 0.252
    assert hyp == CTCHypothesis([1], pytest.approx(math.log(0.348)))


def test_a_batch_is_searched_utterance_by_utterance():
    rng = np.random.default_rng(2)
    lp = torch.log_softmax(torch.tensor(rng.normal(size=(3, 9, 4)) * 2), -1)
    lengths = torch.tensor([9, 4, 0])
    batch = prefix_beam_search(lp, lengths, beam_size=3)
    assert batch == [prefix_beam_search(lp[b, :n], beam_size=3) for b, n in enumerate(lengths.tolist())]
    assert batch[2] == [CTCHypothesis([], 0.0)]  # no frames: the empty labelling, surely


def test_pruning_treats_skipped_symbols_as_probability_zero():
    rng = np.random.default_rng(3)
    lp = _random_log_probs(rng, 6, 4)
    best_path = lp.argmax(1)
    for pruned in [prefix_beam_search(lp, top_k=1), prefix_beam_search(lp, prune=0.0)]:
        # one symbol per frame leaves one path: the best path, with its own probability
        assert pruned == [CTCHypothesis(list(_collapse(best_path)), pytest.approx(lp.max(1).sum()))]
    assert prefix_beam_search(lp, top_k=4) == prefix_beam_search(lp)


def test_the_lexicon_corrects_a_misspelling():
    lp = _frames({"c": 0.9}, {"<blank>": 0.9}, {"u": 0.5, "a": 0.4}, {"<blank>": 0.9}, {"t": 0.9})
    assert _text(prefix_beam_search(lp)[0].labels) == "cut"
    hyps = prefix_beam_search(lp, lexicon=Lexicon(["cat", "dog"], SYMBOLS))
    assert _text(hyps[0].labels) == "cat"
    # the list removes prefixes but keeps the probabilities: log P("cat") as torch's CTC computes it
    cat = [ID["c"], ID["a"], ID["t"]]
    loss = F.ctc_loss(torch.tensor(lp)[:, None], torch.tensor([cat]), torch.tensor([5]), torch.tensor([3]),
                      reduction="none")
    assert hyps[0].log_prob == pytest.approx(-loss.item(), rel=1e-9)


def test_the_lexicon_only_outputs_whole_words_of_the_list():
    words = {"cat", "dog", "a", "to"}
    lexicon = Lexicon(sorted(words), SYMBOLS)
    rng = np.random.default_rng(4)
    for _ in range(20):
        lp = _random_log_probs(rng, 12, len(SYMBOLS))
        hyps = prefix_beam_search(lp, beam_size=6, lexicon=lexicon)
        assert hyps
        for h in hyps:
            text = _text(h.labels)
            assert set(text.rstrip(" ").split(" ")) <= words | {""}
            assert not text.startswith(" ") and "  " not in text


def test_the_lexicon_rejects_what_it_cannot_spell():
    with pytest.raises(RnnkitError, match="'x'"):
        Lexicon(["cat", "tax"], SYMBOLS)
    with pytest.raises(RnnkitError, match="lexicon=None"):
        Lexicon(["cat"], ["<blank>", "cat", "dog"])  # word units have no space symbol


# --- alignment times ---------------------------------------------------------------------------------------------

def test_alignment_times_on_a_peaked_case():
    lp = _frames(*({s: 0.95} for s in ["<blank>", "c", "c", "<blank>", "a", " ", "t", "t"]))
    labels = [ID["c"], ID["a"], ID[" "], ID["t"]]
    times = alignment_times(lp, labels, 0.02)
    np.testing.assert_allclose(times, [(0.02, 0.06), (0.08, 0.10), (0.10, 0.12), (0.12, 0.16)])
    assert word_times(labels, SYMBOLS, times) == [{"word": "ca", "start": pytest.approx(0.02),
                                                   "end": pytest.approx(0.10)},
                                                  {"word": "t", "start": pytest.approx(0.12),
                                                   "end": pytest.approx(0.16)}]


def test_a_repeated_label_is_aligned_around_a_blank():
    lp = _frames({"a": 0.9}, {"a": 0.9}, {"a": 0.6}, {"a": 0.9})  # a a needs a blank between: the weakest frame
    assert alignment_times(lp, [ID["a"], ID["a"]], 1.0) == [(0.0, 2.0), (3.0, 4.0)]
    with pytest.raises(RnnkitError, match="at least 3 frames"):
        alignment_times(lp[:2], [ID["a"], ID["a"]], 1.0)


def test_alignment_times_follow_the_best_path_of_the_labels():
    rng = np.random.default_rng(5)
    for _ in range(30):
        T = int(rng.integers(2, 7))
        lp = _random_log_probs(rng, T, 3)
        paths = [p for p in itertools.product(range(3), repeat=T) if _collapse(p) == (1, 2) or
                 _collapse(p) == (2, 2)]
        target = _collapse(paths[int(rng.integers(len(paths)))])
        best = max((p for p in paths if _collapse(p) == target), key=lambda p: lp[np.arange(T), p].sum())
        spans, k = [], -1  # each label's first and last frame, read off the best path by hand
        for t, s in enumerate(best):
            if s != 0 and (t == 0 or best[t - 1] != s):
                k += 1
                spans.append([t, t])
            elif s != 0:
                spans[k][1] = t
        np.testing.assert_allclose(alignment_times(lp, list(target), 0.5), [(f * 0.5, (e + 1) * 0.5) for f, e in spans])


def test_word_units_have_a_word_per_label():
    words = ["<blank>", "seven", "three", "one"]
    assert word_times([1, 3], words, [(0.0, 0.5), (0.7, 0.9)]) == [
        {"word": "seven", "start": 0.0, "end": 0.5}, {"word": "one", "start": 0.7, "end": 0.9}]
    digits = ["<blank>", "1", "2"]  # one-character words: character units unless told
    assert word_times([1, 2], digits, [(0.0, 0.5), (0.7, 0.9)]) == [{"word": "12", "start": 0.0, "end": 0.9}]
    assert [w["word"] for w in word_times([1, 2], digits, [(0.0, 0.5), (0.7, 0.9)], chars=False)] == ["1", "2"]
