"""The Tagger: padding is invisible (every cell, both decoders, with letters), decoding obeys the scheme, rare
words become <UNK> only while training, and it learns a toy tagging task."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.schemes import valid_sequence
from rnnkit.models import Tagger
from rnnkit.models.tagger import WordChars

TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def _batch(seed, B=4, T=7, V=20, C=9):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (B, T), generator=g)
    lengths = torch.tensor([T, 5, 2, 1][:B])
    # letters: N distinct "words", each token points at one
    N = 6
    chars = WordChars(torch.randint(0, C, (N, 5), generator=g), torch.tensor([5, 3, 1, 4, 2, 5]),
                      torch.randint(0, N, (B, T), generator=g))
    return ids, lengths, chars


@pytest.mark.parametrize("cell", ["rnn", "simple-gru", "gru", "lstm", "peephole-lstm"])
@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_padding_never_changes_a_sentence(cell, decoder):
    torch.manual_seed(0)
    model = Tagger(TAGS, "bioes", hidden_size=6, cell=cell, decoder=decoder, vocab_size=20, embedding_size=4,
                   char_vocab_size=9, char_embedding=3, char_hidden=2, num_layers=2).double().eval()
    ids, lengths, chars = _batch(1)
    tags = torch.randint(0, len(TAGS), ids.shape)
    e = model(ids, lengths, chars)
    losses = model.loss(e, tags, lengths)
    paths = model.decode(e, lengths)
    for b, n in enumerate(lengths.tolist()):
        # the same sentence alone, unpadded, and with different junk in its padding
        one = WordChars(chars.ids, chars.lengths, chars.rows[b:b + 1, :n])
        alone = model(ids[b:b + 1, :n], None, one)
        assert torch.allclose(alone[0], e[b, :n], atol=1e-12)
        assert torch.allclose(model.loss(alone, tags[b:b + 1, :n], torch.tensor([n])), losses[b:b + 1], atol=1e-10)
        assert model.decode(alone)[0] == paths[b]
    junk = ids.clone()
    junk[1, 5:] = 3
    assert torch.allclose(model(junk, lengths, chars), e)


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_decoding_obeys_the_scheme(decoder):
    torch.manual_seed(1)
    model = Tagger(TAGS, "bioes", hidden_size=5, decoder=decoder, vocab_size=20, embedding_size=4).eval()
    if decoder == "crf":
        with torch.no_grad():
            model.crf.transitions.normal_(0, 3)
    for seed in range(10):
        ids, lengths, _ = _batch(seed)
        e = model(ids, lengths) * 20 + torch.randn(*ids.shape, len(TAGS)) * 20    # scores that want chaos
        for path in model.decode(e, lengths):
            assert valid_sequence([TAGS[i] for i in path], "bioes")


def test_rare_words_become_unk_only_while_training():
    torch.manual_seed(2)
    model = Tagger(TAGS, "bioes", hidden_size=4, vocab_size=10, embedding_size=3, unk_id=0, unk_replace=0.5)
    model.rare[5] = True
    x = torch.full((1, 200), 5)
    model.eval()
    assert torch.equal(model.inputs(x, torch.tensor([200]), None), model.embedding(x))
    model.train()
    w = model.inputs(x, torch.tensor([200]), None)[0]
    swapped = (w == model.embedding.weight[0]).all(1).float().mean()
    assert 0.35 < swapped < 0.65


def test_learns_to_tag_names():
    """Word 1 ('mr') is followed by a two-word name; learnable in a few hundred steps."""
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(4, 30, (64, 8), generator=g)
    tags = torch.zeros(64, 8, dtype=torch.long)
    for b in range(64):
        t = int(torch.randint(0, 5, (1,), generator=g))
        ids[b, t] = 1
        tags[b, t + 1], tags[b, t + 2] = TAGS.index("B-PER"), TAGS.index("E-PER")
    model = Tagger(TAGS, "bioes", hidden_size=16, vocab_size=30, embedding_size=8, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), 0.02)
    for _ in range(60):
        opt.zero_grad()
        model(ids, None, None, tags).mean().backward()
        opt.step()
    predicted = model.predict(ids)
    assert sum(p == [TAGS[i] for i in t] for p, t in zip(predicted, tags.tolist())) >= 60
