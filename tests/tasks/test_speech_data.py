"""Speech data: units map transcripts to CTC labels and back, batches are padded invisibly, and augmentation
depends only on (seed, epoch, utterance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.audio import AugmentConfig, Augmenter, FrontEnd, FrontEndConfig, Normalizer
from rnnkit.data.formats.manifest import Utterance
from rnnkit.tasks.speech_data import Features, SpeechBatches, Units, encode_utterances


def test_char_and_word_units_round_trip_with_the_blank_at_zero():
    chars = Units.build(["seven three", "one"], "char")
    assert chars.symbols[0] == "<blank>" and chars.space == chars.symbols.index(" ")
    labels = chars.labels("one three")
    assert 0 not in labels and chars.text(labels) == "one three"
    assert chars.labels("four") is None and chars.unknown("four") == ["f", "u"]
    words = Units.build(["seven three", "one"], "word")
    assert words.symbols == ["<blank>", "one", "seven", "three"] and words.space is None
    assert words.text(words.labels("three one")) == "three one"


def _data(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    waves = [(0.1 * torch.randn(int(torch.randint(800, 4000, (1,), generator=g)), generator=g)).numpy()
             for _ in range(n)]
    utts = [Utterance(f"u{i}.wav", "ab" if i % 2 else "ba", f"m.tsv:{i + 2}") for i in range(n)]
    return encode_utterances(utts, waves, Units.build(["ab", "ba"], "char"))


def _features():
    return Features(FrontEnd(FrontEndConfig(features="mfcc")).eval(), Normalizer("utterance"))


def test_a_padded_batch_gives_each_utterance_its_features_alone():
    data = _data()
    batches = SpeechBatches(data, _features(), 6)
    batch = batches.make(list(range(6)))
    for i in range(6):
        alone = batches.make([i])
        n = int(alone.lengths[0])
        assert int(batch.lengths[i]) == n
        torch.testing.assert_close(batch.inputs[i, :n], alone.inputs[0, :n], atol=1e-5, rtol=1e-5)
        assert batch.extra["target_lengths"][i] == 2 and batch.targets[i].tolist() == data.labels[i]


def test_augmentation_depends_on_seed_epoch_and_utterance_only():
    data = _data()
    aug = Augmenter(AugmentConfig())
    one = SpeechBatches(data, _features(), 6, augmenter=aug, seed=3)
    other = SpeechBatches(data, _features(), 6, augmenter=aug, seed=4)
    before = torch.get_rng_state()
    a = one.make([0, 1, 2, 3], epoch=1)
    assert torch.equal(torch.get_rng_state(), before)
    again = one.make([2, 3], epoch=1)                            # another batch split: the same draws
    n = int(a.lengths[2])
    torch.testing.assert_close(a.inputs[2, :n], again.inputs[0, :n])
    assert not torch.equal(one.make([0], epoch=2).inputs, one.make([0], epoch=1).inputs)
    assert not torch.equal(other.make([0], epoch=1).inputs, one.make([0], epoch=1).inputs)
    plain = one.make([0])
    assert not torch.equal(plain.inputs, one.make([0], epoch=1).inputs)


@pytest.mark.parametrize("kind", ["char", "word"])
def test_units_refuse_an_unknown_level(kind):
    with pytest.raises(Exception, match="units"):
        Units.build(["a"], kind + "x")
    assert np.all(np.array(Units.build(["a b"], kind).labels("a b")) > 0)


def test_a_closed_vocabulary_is_few_words_each_heard_often():
    from rnnkit.tasks.speech import LoadedRun

    def closed(words):
        return LoadedRun(None, None, None, {}, words, {}).closed_vocabulary
    digits = {w: 180 for w in "zero one two three four five six seven eight nine".split()}
    assert closed(digits)
    assert not closed({**digits, "eleven": 3})                  # a rare word: an open vocabulary
    assert not closed({f"w{i}": 50 for i in range(1001)}) and not closed({})
