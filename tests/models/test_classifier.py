"""Classifier (many-to-one), its pooling and its input transform: padding invisibility, masking, the losses,
the config round trip, and a toy task learned."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from rnnkit.models import Classifier, ClassifierConfig
from rnnkit.models.features import FeatureTransform
from rnnkit.models.pooling import AttentionPooling, LastPooling, MaxPooling, MeanPooling, make_pooling

DTYPE = torch.float64
V = 11                      # vocabulary of the token-id models
CELL_NAMES = ("rnn", "simple-gru", "gru", "lstm", "peephole-lstm")
POOLINGS = ("last", "mean", "max", "attention")


class MinimalGatedCell(nn.Module):
    """A user-written cell (the minimal gated unit, Zhou et al. 2016) following the cell contract of
    rnnkit.cells.base without inheriting from it::

        Γf = σ(W_f [a<t-1>, x<t>] + b_f);   ã = tanh(W_a [Γf * a<t-1>, x<t>] + b_a);   a<t> = (1 − Γf) a<t-1> + Γf ã
    """

    state_names = ("a",)

    def __init__(self, input_size, hidden_size, scale=1.0):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        k = scale / math.sqrt(hidden_size)
        self.W_f = nn.Parameter(torch.empty(hidden_size, hidden_size + input_size).uniform_(-k, k))
        self.W_a = nn.Parameter(torch.empty(hidden_size, hidden_size + input_size).uniform_(-k, k))
        self.b_f = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))
        self.b_a = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))

    def init_state(self, batch_size, device=None, dtype=None):
        return (torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype or self.W_f.dtype),)

    def forward(self, x_t, state):
        (a_prev,) = state
        gamma_f = torch.sigmoid(nn.functional.linear(torch.cat([a_prev, x_t], 1), self.W_f, self.b_f))
        a_tilde = torch.tanh(nn.functional.linear(torch.cat([gamma_f * a_prev, x_t], 1), self.W_a, self.b_a))
        return ((1 - gamma_f) * a_prev + gamma_f * a_tilde,)


CELLS = (*CELL_NAMES, MinimalGatedCell)
CELL_IDS = (*CELL_NAMES, "user-cell")


def make(pooling="last", bidirectional=True, cell="lstm", num_layers=2, hidden_size=5, **options):
    """A small float64 token-id classifier in eval mode (3 classes unless told)."""
    options = {"num_classes": 3, "vocab_size": V, "embedding_size": 4, **options}
    model = Classifier(hidden_size=hidden_size, num_layers=num_layers, cell=cell, bidirectional=bidirectional,
                       pooling=pooling, **options)
    with torch.no_grad():                       # wider weights: the nonlinearities leave their linear region
        for p in model.rnn.parameters():
            p.mul_(2.0)
    return model.to(DTYPE).eval()


def padded_batch(seq, neighbours, garbage):
    """(ids (B, T), lengths (B,)): ``seq`` between ``neighbours``, padding filled from ``garbage(n)``."""
    rows = [neighbours[0], seq, *neighbours[1:]]
    T = max(len(r) for r in rows)
    ids = torch.stack([torch.cat([r, garbage(T - len(r))]) for r in rows])
    return ids, torch.tensor([len(r) for r in rows])


# --- padding invisibility ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_is_invisible(pooling, bidirectional, cell):
    model = make(pooling, bidirectional, cell)
    seq = torch.randint(V, (4,))
    neighbours = [torch.randint(V, (7,)), torch.randint(V, (6,))]
    # garbage: valid ids, and ids no embedding has (the model must not even look them up)
    garbage = lambda n: torch.tensor([10**6, -5, 3, 0, 7, 2, 9][:n], dtype=torch.long)
    ids, lengths = padded_batch(seq, neighbours, garbage)
    with torch.no_grad():
        alone = model(seq.unsqueeze(0))                                   # no lengths at all
        alone_with_lengths = model(seq.unsqueeze(0), torch.tensor([4]))
        batched = model(ids, lengths)
    torch.testing.assert_close(alone_with_lengths, alone, rtol=0, atol=1e-12)
    torch.testing.assert_close(batched[1:2], alone, rtol=0, atol=1e-12)
    # and the neighbours are themselves unchanged by the padded sequence between them
    with torch.no_grad():
        torch.testing.assert_close(batched[0:1], model(neighbours[0].unsqueeze(0)), rtol=0, atol=1e-12)


def test_padding_is_invisible_in_float32_to_1e5():
    torch.manual_seed(1)
    model = Classifier(4, hidden_size=16, vocab_size=V, pooling="attention").eval()       # float32, defaults
    seq = torch.randint(V, (9,))
    ids, lengths = padded_batch(seq, [torch.randint(V, (20,)), torch.randint(V, (3,))],
                                lambda n: torch.randint(V, (n,)))
    with torch.no_grad():
        torch.testing.assert_close(model(ids, lengths)[1:2], model(seq.unsqueeze(0)), rtol=0, atol=1e-5)


def test_feature_padding_is_invisible_even_when_it_is_nan():
    torch.manual_seed(2)
    model = Classifier(3, hidden_size=6, num_features=6, center_joint=1, deltas=True, input_projection=5,
                       pooling="mean", cell="gru").to(DTYPE)
    model.features.fit([torch.randn(5, 6, dtype=DTYPE), torch.randn(8, 6, dtype=DTYPE)])
    seq = torch.randn(3, 6, dtype=DTYPE)
    x = torch.full((2, 6, 6), float("nan"), dtype=DTYPE)
    x[0] = torch.randn(6, 6, dtype=DTYPE)
    x[1, :3] = seq
    lengths = torch.tensor([6, 3])
    logits = model(x, lengths)
    torch.testing.assert_close(logits[1:], model(seq.unsqueeze(0)), rtol=0, atol=1e-12)
    model.loss(logits, torch.tensor([0, 2])).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# --- pooling ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_attention_weights_are_zero_on_padding_and_sum_to_one(bidirectional):
    model = make("attention", bidirectional, "gru")
    ids = torch.randint(V, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    alpha = model.attention_weights(ids, lengths)                           # (B, T)
    valid = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    assert alpha.shape == (3, 6)
    assert torch.all(alpha[~valid] == 0)                                     # exactly 0, not merely small
    assert torch.all(alpha[valid] > 0)
    torch.testing.assert_close(alpha.sum(1), torch.ones(3, dtype=DTYPE), rtol=0, atol=1e-12)
    # and the pooled vector is Σ_t α<t> a<t> with e<t> = v · tanh(W_e a<t> + b_e), by hand
    outputs, state, _ = model.encode(ids, lengths)
    pool = model.pool
    for b in range(3):
        a = outputs[b, :lengths[b]]                                         # (T_x, D·H)
        e = torch.stack([pool.v @ torch.tanh(pool.W_e @ a_t + pool.b_e) for a_t in a])
        alpha_b = torch.exp(e) / torch.exp(e).sum()
        torch.testing.assert_close(alpha[b, :lengths[b]], alpha_b.detach(), rtol=0, atol=1e-12)
        pooled, weights = pool(outputs, lengths, state, return_weights=True)
        torch.testing.assert_close(pooled[b], (alpha_b.unsqueeze(1) * a).sum(0), rtol=0, atol=1e-12)
        torch.testing.assert_close(weights, alpha, rtol=0, atol=0)


def test_max_pooling_ignores_padding_when_every_valid_output_is_negative():
    outputs = -1.0 - torch.rand(2, 5, 3, dtype=DTYPE)                        # every valid value is < -1
    lengths = torch.tensor([5, 2])
    outputs[1, 2:] = 0.0                                                     # the layer's zeros past the end
    pooled = MaxPooling()(outputs, lengths)
    torch.testing.assert_close(pooled[1], outputs[1, :2].max(0).values, rtol=0, atol=0)
    assert torch.all(pooled < -1)
    # large positive garbage in the padding is ignored too
    outputs[1, 2:] = 1e9
    torch.testing.assert_close(MaxPooling()(outputs, lengths), pooled, rtol=0, atol=0)


def test_mean_pooling_averages_valid_steps_only():
    outputs = torch.randn(2, 4, 3, dtype=DTYPE)
    lengths = torch.tensor([4, 3])
    outputs[1, 3] = 1e9
    pooled = MeanPooling()(outputs, lengths)
    torch.testing.assert_close(pooled[1], outputs[1, :3].sum(0) / 3, rtol=0, atol=1e-12)
    torch.testing.assert_close(pooled[0], outputs[0].mean(0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "rnn", MinimalGatedCell], ids=["lstm", "rnn", "user-cell"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_last_pooling_is_the_hand_gathered_final_state(bidirectional, cell):
    model = make("last", bidirectional, cell, num_layers=2)
    ids = torch.randint(V, (3, 7))
    lengths = torch.tensor([5, 7, 1])
    with torch.no_grad():
        outputs, state, _ = model.encode(ids, lengths)
        pooled = model.pool(outputs, lengths, state)
        H = model.rnn.hidden_size
        for b, n in enumerate(lengths.tolist()):
            want = outputs[b, n - 1, :H]                                     # a→ at its own last step
            if bidirectional:
                want = torch.cat([want, outputs[b, 0, H:]])                  # a← at t = 1
            torch.testing.assert_close(pooled[b], want, rtol=0, atol=1e-12)
        # read from the outputs instead of the state: the same vectors
        torch.testing.assert_close(model.pool(outputs, lengths), pooled, rtol=0, atol=1e-12)
        # the pooled vector is what the head reads
        torch.testing.assert_close(model(ids, lengths), model.head(pooled), rtol=0, atol=1e-12)


def test_make_pooling_names_and_errors():
    assert isinstance(make_pooling("last", 8, 2), LastPooling)
    assert isinstance(make_pooling("attention", 8, attention_size=3), AttentionPooling)
    assert make_pooling("attention", 8, attention_size=3).W_e.shape == (3, 8)
    with pytest.raises(ValueError, match="unknown pooling 'sum'"):
        make_pooling("sum", 8)
    with pytest.raises(ValueError, match="unknown pooling"):
        Classifier(2, vocab_size=5, pooling="first")


# --- losses and probabilities ----------------------------------------------------------------------------

def test_multi_label_loss_is_the_logistic_loss_summed_over_labels():
    model = make("mean", num_classes=4, multi_label=True)
    ids, lengths = torch.randint(V, (3, 5)), torch.tensor([5, 3, 2])
    logits = model(ids, lengths)
    targets = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=DTYPE)
    p = 1 / (1 + torch.exp(-logits))
    per_example = -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).sum(1)
    torch.testing.assert_close(model.loss(logits, targets), per_example.mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(model.loss(logits, targets, reduction="sum"), per_example.sum(), rtol=0, atol=1e-12)
    torch.testing.assert_close(model.predict_proba(ids, lengths), p.detach(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        model.loss(logits, torch.tensor([0, 1, 2]))


def test_single_label_loss_is_cross_entropy():
    model = make("max")
    ids, lengths = torch.randint(V, (4, 6)), torch.tensor([6, 1, 3, 6])
    logits = model(ids, lengths)
    targets = torch.tensor([2, 0, 1, 1])
    log_p = logits - torch.log(torch.exp(logits).sum(1, keepdim=True))
    per_example = -log_p[torch.arange(4), targets]
    torch.testing.assert_close(model.loss(logits, targets), per_example.mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(model.loss(logits, targets, "sum"), per_example.sum(), rtol=0, atol=1e-12)
    proba = model.predict_proba(ids, lengths)
    torch.testing.assert_close(proba.sum(1), torch.ones(4, dtype=DTYPE), rtol=0, atol=1e-12)
    torch.testing.assert_close(proba, torch.exp(log_p).detach(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="class ids"):
        model.loss(logits, torch.zeros(4, 3))


def test_one_hot_input_feeds_the_one_hot_vectors():
    model = make("last", one_hot=True, embedding_size=None)
    assert model.embedding is None and model.rnn.input_size == V
    ids, lengths = torch.randint(V, (2, 5)), torch.tensor([5, 3])
    with torch.no_grad():
        x = nn.functional.one_hot(ids, V).to(DTYPE)                         # x<t> = e_{id}, V components
        outputs, state = model.rnn(x, lengths=lengths)
        want = model.head(model.pool(outputs, lengths, state))
        torch.testing.assert_close(model(ids, lengths), want, rtol=0, atol=1e-12)


def test_embedding_size_and_padding_idx():
    model = Classifier(2, hidden_size=6, vocab_size=V, embedding_size=3, padding_id=1)
    assert model.embedding.weight.shape == (V, 3) and model.embedding.padding_idx == 1
    assert torch.all(model.embedding.weight[1] == 0)
    assert Classifier(2, hidden_size=6, vocab_size=V).embedding.weight.shape == (V, 6)


# --- input transform -------------------------------------------------------------------------------------

def test_feature_transform_statistics_by_hand():
    t = FeatureTransform(2).fit([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 10.0]]])
    # column 0: 1, 3, 5 → mean 3, population variance 8/3; column 1: 2, 4, 10 → mean 16/3, variance 312/27
    torch.testing.assert_close(t.mean, torch.tensor([3.0, 16 / 3]))
    torch.testing.assert_close(t.std, torch.tensor([math.sqrt(8 / 3), math.sqrt(312 / 27)]))
    x = torch.tensor([[[3.0, 16 / 3], [5.0, 10.0]]])
    want = torch.tensor([[[0.0, 0.0], [2 / math.sqrt(8 / 3), (14 / 3) / math.sqrt(312 / 27)]]])
    torch.testing.assert_close(t(x), want)


def test_feature_transform_centres_on_a_joint():
    t = FeatureTransform(6, center_joint=2, joint_dims=3)                  # joints (x, y, z) 1 and 2
    x = torch.tensor([[[1.0, 2.0, 3.0, 10.0, 20.0, 30.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]])
    want = torch.tensor([[[-9.0, -18.0, -27.0, 0.0, 0.0, 0.0], [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0]]])
    torch.testing.assert_close(t.features(x), want, rtol=0, atol=0)
    # shifting the whole body changes nothing
    torch.testing.assert_close(t.features(x + torch.tensor([5.0, -2.0, 7.0] * 2)), want, rtol=0, atol=0)
    t.fit([x[0], 2 * x[0]])
    # the centre joint is constant 0: its std is floored at 1e-3 × the mean std of the features, not 1e-6
    floor = 1e-3 * float(t.std[:3].sum()) / 6                                # the mean of the 6 stds (3 are 0)
    torch.testing.assert_close(t.std[3:], torch.full((3,), floor))
    assert torch.all(t(x)[..., 3:] == 0)
    with pytest.raises(ValueError, match="1-based"):
        FeatureTransform(6, center_joint=0)
    with pytest.raises(ValueError, match="multiple"):
        FeatureTransform(7, center_joint=1)


def test_feature_transform_deltas_at_starts_and_with_padding():
    t = FeatureTransform(2, deltas=True)
    assert t.output_size == 4
    x = torch.tensor([[[1.0, 1.0], [2.0, 4.0], [4.0, 9.0]],
                      [[5.0, 5.0], [99.0, -99.0], [7.0, 7.0]]])                # row 1 has length 1
    z = t.features(x, torch.tensor([3, 1]))
    torch.testing.assert_close(z[0, :, 2:], torch.tensor([[0.0, 0.0], [1.0, 3.0], [2.0, 5.0]]), rtol=0, atol=0)
    assert torch.all(z[1, :, 2:] == 0)                                       # Δ<1> = 0, nothing past the end
    # deltas of the centred values
    c = FeatureTransform(6, center_joint=1, deltas=True)
    y = torch.randn(1, 4, 6)
    shifted = y + torch.arange(4.0).view(1, 4, 1)                            # the body walks
    torch.testing.assert_close(c.features(shifted), c.features(y), rtol=0, atol=1e-6)
    # the fit uses every step of every sequence, deltas included (starting at 0 in each sequence)
    t.fit([x[0], x[1, :1]])
    deltas = torch.tensor([[0.0, 0.0], [1.0, 3.0], [2.0, 5.0], [0.0, 0.0]])
    torch.testing.assert_close(t.mean[2:], deltas.mean(0))
    torch.testing.assert_close(t.std[2:], deltas.std(0, correction=0))
    out = t(x, torch.tensor([3, 1]))
    assert torch.all(out[1, 1:] == 0)                                        # padded steps: zero
    torch.testing.assert_close(out[1:, :1], t(x[1:, :1]), rtol=0, atol=0)


def test_unfitted_transform_is_obvious_and_the_fit_is_saved():
    t = FeatureTransform(3, deltas=True)
    assert not t.is_fitted and "not fitted" in repr(t)
    with pytest.raises(RuntimeError, match="not been fitted"):
        t(torch.randn(1, 2, 3))
    t.fit([torch.randn(4, 3), torch.randn(2, 3)])
    restored = FeatureTransform(3, deltas=True)
    restored.load_state_dict(st_load(st_save(t.state_dict())))            # through safetensors bytes
    assert restored.is_fitted
    torch.testing.assert_close(restored.mean, t.mean, rtol=0, atol=0)
    torch.testing.assert_close(restored.std, t.std, rtol=0, atol=0)


# --- config -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"vocab_size": V, "pooling": "attention", "cell": "peephole-lstm", "attention_size": 3, "positions": 3},
    {"vocab_size": V, "one_hot": True, "bidirectional": False, "cell": "simple-gru", "multi_label": True},
    {"num_features": 6, "center_joint": 2, "deltas": True, "input_projection": 4, "pooling": "max",
     "cell": "rnn", "cell_options": {"nonlinearity": "relu"}},
], ids=["tokens", "one-hot", "features"])
def test_from_config_round_trip(options):
    model = Classifier(3, hidden_size=5, num_layers=2, dropout=0.1, **options).eval()
    if model.features is not None:
        model.features.fit([torch.randn(6, 6), torch.randn(3, 6)])
        x = torch.randn(2, 4, 6)
    else:
        x = torch.randint(V, (2, 4))
    config = json.loads(json.dumps(model.config.__dict__))                  # JSON-able
    rebuilt = Classifier.from_config(config)
    rebuilt.load_state_dict(st_load(st_save(model.state_dict())))
    rebuilt.eval()
    assert rebuilt.config == model.config
    assert Classifier.from_config(model.config).config == model.config
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, lengths), model(x, lengths), rtol=0, atol=0)


def test_user_cell_is_not_stored_and_from_config_asks_for_it():
    model = make("mean", cell=MinimalGatedCell, cell_options={"scale": 0.5})
    assert model.config.cell is None and isinstance(model.rnn.cells[0], MinimalGatedCell)
    config = ClassifierConfig(**json.loads(json.dumps(model.config.__dict__)))
    with pytest.raises(ValueError, match="cell=my_factory"):
        Classifier.from_config(config)
    rebuilt = Classifier.from_config(config, cell=MinimalGatedCell).to(DTYPE).eval()
    rebuilt.load_state_dict(model.state_dict())
    ids = torch.randint(V, (2, 3))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(ids), model(ids), rtol=0, atol=0)


def test_invalid_inputs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        Classifier(2, vocab_size=5, num_features=3)
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        Classifier(2)
    with pytest.raises(ValueError, match="apply to num_features"):
        Classifier(2, vocab_size=5, deltas=True)
    with pytest.raises(ValueError, match="unknown cell"):
        Classifier(2, vocab_size=5, cell="transformer")
    model = Classifier(2, vocab_size=5, hidden_size=3)
    with pytest.raises(ValueError, match="lengths must be in 1"):
        model(torch.zeros(2, 4, dtype=torch.long), torch.tensor([4, 0]))
    with pytest.raises(ValueError, match="token ids"):
        model(torch.zeros(2, 4, 3))


# --- learning -----------------------------------------------------------------------------------------------

def test_learns_whether_a_sequence_contains_token_3():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    N, T, vocab = 128, 10, 8
    lengths = torch.randint(3, T + 1, (N,), generator=g)
    ids = torch.randint(4, vocab, (N, T), generator=g)                       # no 3 anywhere yet ...
    targets = torch.arange(N) % 2                                            # ... half the sequences get one
    where = (torch.rand(N, generator=g) * lengths).long()
    ids[targets == 1, where[targets == 1]] = 3
    ids[torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)] = 3            # padding of 3s: must not count
    model = Classifier(2, hidden_size=16, vocab_size=vocab, embedding_size=8)   # bi-LSTM, `last` pooling
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    start = time.perf_counter()
    for _ in range(300):
        logits = model(ids, lengths)
        loss = model.loss(logits, targets)
        accuracy = (logits.argmax(1) == targets).float().mean().item()
        if accuracy == 1.0 and loss.item() < 0.05:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert accuracy > 0.95, f"train accuracy {accuracy:.3f} after 300 steps (loss {loss.item():.3f})"
    assert time.perf_counter() - start < 10


# --- position vectors and input noise ----------------------------------------------------------------------

def test_position_vectors_make_position_count_and_keep_padding_invisible():
    torch.manual_seed(1)
    model = Classifier(3, hidden_size=6, vocab_size=V, embedding_size=4, pooling="max", positions=5).to(DTYPE).eval()
    plain = Classifier(3, hidden_size=6, vocab_size=V, embedding_size=4, pooling="max").to(DTYPE).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("position.")})
    ids = torch.randint(V, (1, 7))                          # longer than 5: steps 5, 6 share the last vector
    with torch.no_grad():
        x = model.inputs(ids, torch.tensor([7]))
        expected = plain.inputs(ids, torch.tensor([7])) + model.position.weight[[0, 1, 2, 3, 4, 4, 4]]
        torch.testing.assert_close(x, expected)
        assert not torch.allclose(model(ids), plain(ids))
        seq, other = torch.randint(V, (3,)), torch.randint(V, (6,))
        batch = torch.stack([torch.cat([seq, torch.tensor([1, 2, 3])]), other])
        torch.testing.assert_close(model(batch, torch.tensor([3, 6]))[0], model(seq.unsqueeze(0))[0],
                                   rtol=0, atol=1e-12)


def test_input_noise_only_while_training():
    torch.manual_seed(2)
    model = Classifier(3, hidden_size=6, vocab_size=V, embedding_size=4, input_noise=0.5)
    ids = torch.randint(V, (2, 5))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(ids), rtol=0, atol=0)
    model.train()
    model.drop.p = 0.0
    with torch.no_grad():
        assert not torch.allclose(model(ids), model(ids))


def test_input_dropout_drops_whole_token_vectors_while_training():
    torch.manual_seed(3)
    model = Classifier(3, hidden_size=6, vocab_size=V, embedding_size=8, input_dropout=0.5).train()
    ids = torch.randint(1, V, (4, 30))
    x = model.inputs(ids, torch.full((4,), 30))
    plain = model.embedding(ids)
    dropped = (x == 0).all(-1)                                  # a position is dropped as a whole vector …
    assert 0.3 < float(dropped.float().mean()) < 0.7
    torch.testing.assert_close(x[~dropped], 2 * plain[~dropped])  # … the others scaled by 1 / (1 − p)
    model.eval()
    torch.testing.assert_close(model.inputs(ids, torch.full((4,), 30)), plain)


def test_time_warp_resamples_each_sequence_within_its_speed_range():
    from rnnkit.models.classifier import augment_features

    torch.manual_seed(4)
    lengths = torch.tensor([40, 25, 9, 1])
    ramp = torch.arange(40, dtype=DTYPE).view(1, 40, 1).repeat(4, 1, 2)
    ramp[:, :, 1] *= -2
    x = ramp.masked_fill(torch.arange(40).view(1, 40, 1) >= lengths.view(4, 1, 1), float("nan"))
    for _ in range(20):
        y, new = augment_features(x, lengths, time_warp=0.25, scale_jitter=0.0)
        assert y.shape[1] == int(new.max()) and bool(torch.isfinite(y).all())
        for b, (L, L2) in enumerate(zip(lengths.tolist(), new.tolist())):
            assert round(L * 0.75) <= L2 <= round(L / 0.75) and L2 >= 1
            # a ramp played at another speed is a ramp over the same span: start, end, evenly spaced
            expected = torch.linspace(0, L - 1, L2, dtype=DTYPE) if L2 > 1 else torch.zeros(1, dtype=DTYPE)
            torch.testing.assert_close(y[b, :L2, 0], expected)
            torch.testing.assert_close(y[b, :L2, 1], -2 * expected)
            assert bool((y[b, L2:] == 0).all())
    assert len({tuple(augment_features(x, lengths, 0.25, 0.0)[1].tolist()) for _ in range(10)}) > 1


def test_scale_jitter_scales_about_the_sequence_mean_and_keeps_padding_zero():
    from rnnkit.models.classifier import augment_features

    torch.manual_seed(5)
    lengths = torch.tensor([6, 3])
    x = torch.randn(2, 6, 4, dtype=DTYPE)
    x[1, 3:] = float("nan")
    y, new = augment_features(x, lengths, time_warp=0.0, scale_jitter=0.3)
    assert new.tolist() == [6, 3] and bool((y[1, 3:] == 0).all())
    for b, L in enumerate(lengths.tolist()):
        mean = x[b, :L].mean(0)
        torch.testing.assert_close(y[b, :L].mean(0), mean)                    # the mean stays
        ratio = (y[b, :L] - mean) / (x[b, :L] - mean)                         # one factor for every value
        torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0, 0])))
        assert abs(float(ratio[0, 0]) - 1) > 1e-6


def test_feature_augmentation_only_while_training_and_not_for_token_ids():
    torch.manual_seed(6)
    model = Classifier(3, hidden_size=6, num_features=4, time_warp=0.2, scale_jitter=0.2, pooling="mean")
    model.features.fit([torch.randn(7, 4) for _ in range(5)])
    x, lengths = torch.randn(3, 7, 4), torch.tensor([7, 5, 2])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths), model(x, lengths), rtol=0, atol=0)
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x, lengths), model(x, lengths))
    with pytest.raises(ValueError, match="time_warp"):
        Classifier(3, vocab_size=V, time_warp=0.2)
    with pytest.raises(ValueError, match="time_warp"):
        Classifier(3, num_features=4, time_warp=1.0)
