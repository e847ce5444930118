"""Seq2Seq: the loss is the chain rule's, padding and attention behave, the decoders agree with each other, and
copying and reversing are learned exactly on tiny data."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import Seq2Seq, Seq2SeqConfig

V, EOS = 9, 0
VARIANTS = [dict(attention="none", bidirectional=False), dict(attention="none", bidirectional=True),
            dict(attention="additive"), dict(attention="dot", bidirectional=False),
            dict(attention="general"), dict(attention="general", input_feeding=False),
            dict(attention="general", cell="lstm", encoder_layers=2, decoder_layers=2),
            dict(attention="additive", cell="lstm", decoder_cell="gru", tie_embeddings=True, embedding_size=16)]


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    opts = dict(hidden_size=16, embedding_size=8, dropout=0.0)
    opts.update(kw)
    return Seq2Seq(Seq2SeqConfig(V, V, EOS, **opts)).eval()


def _pad(seqs, value=0):
    lengths = torch.tensor([len(s) for s in seqs])
    out = torch.full((len(seqs), int(lengths.max())), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(s)
    return out, lengths


def _batch(seed=1, n=6):
    g = torch.Generator().manual_seed(seed)
    src = [torch.randint(1, V, (int(torch.randint(1, 7, (1,), generator=g)),), generator=g) for _ in range(n)]
    tgt = [torch.cat([torch.randint(1, V, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g),
                      torch.tensor([EOS])]) for _ in range(n)]
    return (*_pad(src, 3), *_pad(tgt, 5))                       # padding values that would show if read


def _stepwise_loss(model, src, sl, tgt, tl):
    """−Σ_t log P(y<t> | y<1…t-1>, x), one decoder step at a time, written out here."""
    memory = model.encode(src, sl)
    state, feed = model.initial(memory)
    prev = torch.full((src.shape[0],), EOS)
    total = torch.zeros(src.shape[0], dtype=torch.float64)
    for t in range(tgt.shape[1]):
        h, state, _ = model.step(model.target_embedding(prev), state, feed, memory)
        feed = h
        logp = torch.log_softmax(model.logits(h), dim=1)
        step = -logp.gather(1, tgt[:, t:t + 1]).squeeze(1).double()
        total += torch.where(t < tl, step, torch.zeros_like(step))
        prev = tgt[:, t]
    return total


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_teacher_forced_loss_is_the_sum_of_step_losses(kw):
    model = _model(**kw)
    src, sl, tgt, tl = _batch()
    with torch.no_grad():
        got = model(src, sl, tgt, tl).double()
        want = _stepwise_loss(model, src, sl, tgt, tl)
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_padding_is_invisible(kw):
    model = _model(**kw)
    src, sl, tgt, tl = _batch()
    with torch.no_grad():
        batched = model(src, sl, tgt, tl)
        alone = torch.cat([model(src[i:i + 1, :sl[i]], sl[i:i + 1], tgt[i:i + 1, :tl[i]], tl[i:i + 1])
                           for i in range(len(sl))])
    assert torch.allclose(batched, alone, atol=1e-5)


@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
def test_attention_weights_sum_to_one_over_valid_steps_and_ignore_padding(attention):
    model = _model(attention=attention, bidirectional=attention != "dot")
    src, sl, tgt, tl = _batch()
    with torch.no_grad():
        memory = model.encode(src, sl)
        _, alpha = model.decode_teacher_forced(memory, tgt)                     # (B, T_y, T_x)
        valid = torch.arange(src.shape[1]).unsqueeze(0) < sl.unsqueeze(1)
        assert torch.allclose(alpha.sum(2), torch.ones(alpha.shape[:2]), atol=1e-6)
        assert bool((alpha.masked_select(~valid.unsqueeze(1).expand_as(alpha)) == 0).all())
        changed = src.masked_fill(~valid, 7)                                     # other padding, same weights
        _, alpha2 = model.decode_teacher_forced(model.encode(changed, sl), tgt)
    assert torch.allclose(alpha, alpha2, atol=1e-6)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_of_one_is_greedy_and_a_wider_beam_is_never_worse(kw, seed):
    model = _model(seed, **kw)
    src, sl, _, _ = _batch(seed + 10, n=12)
    greedy = model.greedy(src, sl, max_ratio=1.0, max_extra=3)
    one = model.beam_search(src, sl, beam_size=1, length_penalty=0.0, max_ratio=1.0, max_extra=3)
    assert [h.tokens for h in one] == [h.tokens for h in greedy]
    assert [round(h.log_prob, 5) for h in one] == [round(h.log_prob, 5) for h in greedy]
    for K in (2, 5):
        wide = model.beam_search(src, sl, beam_size=K, length_penalty=0.0, max_ratio=1.0, max_extra=3)
        assert all(w.log_prob >= g.log_prob - 1e-6 for w, g in zip(wide, greedy))


@pytest.mark.parametrize("kw", VARIANTS[:5], ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_decoded_log_probs_are_the_models_scores(kw):
    """What greedy, beam search and sampling report is log P(tokens, <EOS> | x) as the model scores it."""
    model = _model(**kw)
    src, sl, _, _ = _batch(3)
    g = torch.Generator().manual_seed(0)
    for hyps in (model.greedy(src, sl), model.beam_search(src, sl, beam_size=3),
                 model.sample(src, sl, temperature=1.0, generator=g)):
        tgt, tl = _pad([h.tokens + [EOS] for h in hyps])
        scored = model.log_prob(src, sl, tgt, tl)
        assert torch.allclose(scored.double(), torch.tensor([h.log_prob for h in hyps], dtype=torch.float64),
                              atol=1e-4)
        for h, n in zip(hyps, sl.tolist()):
            assert h.attention is None or (h.attention.shape == (len(h.tokens) + 1, n))


@pytest.mark.parametrize("kw", [VARIANTS[0], VARIANTS[4]], ids=["none", "general"])
def test_a_beam_wide_enough_to_hold_every_hypothesis_finds_the_exhaustive_ranking(kw):
    """With at most 3 tokens (<EOS> included) there are 1 + 8 + 64 targets; a beam of 73 keeps them all, so its
    n-best list must be the ranking of every target scored one by one (the pruning to each row's best tokens
    may not lose any)."""
    model = _model(7, **kw)
    src, sl, _, _ = _batch(8, n=3)
    targets = [[]] + [[a] for a in range(1, V)] + [[a, b] for a in range(1, V) for b in range(1, V)]
    lists = model.beam_search(src, sl, beam_size=len(targets), n_best=10, length_penalty=0.0, max_ratio=0.0,
                              max_extra=3)
    for i, hyps in enumerate(lists):
        tgt, tl = _pad([t + [EOS] for t in targets])
        scored = model.log_prob(src[i:i + 1].expand(len(targets), -1), sl[i:i + 1].expand(len(targets)), tgt, tl)
        order = scored.argsort(descending=True)[:10].tolist()
        assert [h.tokens for h in hyps] == [targets[j] for j in order]
        assert torch.allclose(torch.tensor([h.log_prob for h in hyps]), scored[order].float(), atol=1e-4)


def test_beam_search_respects_the_length_limit_and_gives_n_best_in_order():
    model = _model(2, attention="general")
    src, sl, _, _ = _batch(4)
    limits = Seq2Seq.length_limits(sl, 0.5, 1)
    for h, limit in zip(model.beam_search(src, sl, beam_size=4, max_ratio=0.5, max_extra=1), limits.tolist()):
        assert len(h.tokens) + 1 <= limit
    lists = model.beam_search(src, sl, beam_size=4, n_best=3, length_penalty=0.0)
    for hyps in lists:
        assert len(hyps) == 3 and [h.log_prob for h in hyps] == sorted((h.log_prob for h in hyps), reverse=True)


def test_sampling_is_seeded_and_cold_sampling_is_greedy():
    model = _model(5, attention="additive")
    src, sl, _, _ = _batch(6)
    draw = lambda s, t=1.0: [h.tokens for h in model.sample(src, sl, temperature=t,
                                                             generator=torch.Generator().manual_seed(s))]
    assert draw(1) == draw(1)
    assert draw(1, 1e-8) == [h.tokens for h in model.greedy(src, sl)]


def _learn(transform, attention, steps=700, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = Seq2Seq(Seq2SeqConfig(7, 7, EOS, hidden_size=48, embedding_size=16, attention=attention, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sample = lambda n: [torch.randint(1, 7, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g)
                        for _ in range(n)]
    for _ in range(steps):
        xs = sample(32)
        src, sl = _pad(xs)
        tgt, tl = _pad([torch.cat([transform(x), torch.tensor([EOS])]) for x in xs])
        loss = model(src, sl, tgt, tl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = sample(200)
    src, sl = _pad(test)
    out = model.greedy(src, sl)
    return sum(h.tokens == transform(x).tolist() for h, x in zip(out, test)) / len(test)


@pytest.mark.parametrize("name,transform", [("copy", lambda x: x), ("reverse", lambda x: x.flip(0))])
def test_copying_and_reversing_are_learned_exactly(name, transform):
    assert _learn(transform, "additive") == 1.0
