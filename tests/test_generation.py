import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.generation import Sampler, check_sampling, filter_logits, sample_next


@settings(max_examples=40, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 9))
def test_top_k_never_leaves_its_support(seed, k):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 9, generator=g)
    allowed = torch.topk(logits, k, dim=-1).indices
    for _ in range(20):
        token = sample_next(logits, 1.5, top_k=k, generator=g)
        assert all(int(token[b]) in allowed[b].tolist() for b in range(3))


@settings(max_examples=40, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.floats(0.05, 1.0))
def test_top_p_never_leaves_its_support(seed, p):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 8, generator=g) * 2
    for b in range(2):
        probs = torch.softmax(logits[b], -1)
        order = probs.argsort(descending=True).tolist()
        support, mass = [], 0.0
        for i in order:  # the smallest prefix of most likely tokens reaching p
            support.append(i)
            mass += probs[i].item()
            if mass >= p - 1e-7:
                break
        for _ in range(20):
            token = int(sample_next(logits[b:b + 1], 1.0, top_p=p, generator=g))
            assert token in support


def test_top_p_keeps_most_likely_token_even_for_tiny_p():
    logits = torch.tensor([[0.1, 3.0, 0.2]])
    kept = torch.isfinite(filter_logits(logits, top_p=1e-6))
    assert kept.tolist() == [[False, True, False]]


def test_temperature_zero_is_argmax():
    logits = torch.tensor([[0.0, 2.0, 1.0], [5.0, -1.0, 0.0]])
    assert sample_next(logits, 0.0).tolist() == [1, 0]


@pytest.mark.parametrize("kwargs", [dict(temperature=-1.0, top_k=None, top_p=None),
                                    dict(temperature=float("nan"), top_k=None, top_p=None),
                                    dict(temperature=1.0, top_k=0, top_p=None),
                                    dict(temperature=1.0, top_k=None, top_p=0.0),
                                    dict(temperature=1.0, top_k=None, top_p=1.5)])
def test_bad_sampling_options_raise(kwargs):
    with pytest.raises(ValueError):
        check_sampling(**kwargs)


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, None), (1.3, 3)])
def test_draws_follow_the_softmax_they_sample_from(temperature, top_k):
    logits = torch.tensor([1.0, -0.5, 0.3, 2.0, -2.0])
    N = 40_000
    tokens = sample_next(logits.expand(N, -1), temperature, top_k=top_k, generator=torch.Generator().manual_seed(3))
    z = logits / temperature
    if top_k is not None:
        z = z.masked_fill(z < torch.topk(z, top_k).values[-1], float("-inf"))
    p = torch.softmax(z.double(), -1)
    freq = torch.bincount(tokens, minlength=5).double() / N
    sigma = (p * (1 - p) / N).sqrt()
    assert (freq[p == 0] == 0).all()
    assert ((freq - p).abs() <= 5 * sigma + 1e-12).all(), (freq, p)


@pytest.mark.parametrize("options", [dict(temperature=0.0), dict(temperature=0.9, top_k=4),
                                     dict(temperature=1.1, top_p=0.8)])
def test_sampler_with_top_k_top_p_or_greedy_draws_what_sample_next_draws(options):
    logits = torch.randn(30, 2, 11, generator=torch.Generator().manual_seed(0))
    sampler = Sampler(generator=torch.Generator().manual_seed(5), **options)
    g = torch.Generator().manual_seed(5)
    for z in logits:
        expected = sample_next(z, options["temperature"], options.get("top_k"), options.get("top_p"), g)
        assert torch.equal(sampler(z), expected)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_sampler_draws_follow_the_softmax_across_noise_refills(temperature):
    logits = torch.tensor([0.5, -1.0, 2.0, 0.0, float("-inf")])
    rows, calls = 2000, 20                       # 2¹⁶ // (2000 · 5) = 6 steps of noise per refill
    sampler = Sampler(temperature, generator=torch.Generator().manual_seed(11))
    tokens = torch.cat([sampler(logits.expand(rows, -1).contiguous()) for _ in range(calls)])
    p = torch.softmax(logits.double() / temperature, -1)
    freq = torch.bincount(tokens, minlength=5).double() / tokens.numel()
    assert freq[4] == 0
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / tokens.numel()).sqrt() + 1e-12).all(), (freq, p)


def test_sampler_is_deterministic_under_a_seed_and_varies_with_it():
    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(2))
    draw = lambda seed: [int(s(logits)) for s in [Sampler(generator=torch.Generator().manual_seed(seed))]
                         for _ in range(150)]
    assert draw(4) == draw(4)
    assert draw(4) != draw(5)


def test_sampler_checks_its_options():
    with pytest.raises(ValueError, match="top_k"):
        Sampler(top_k=0)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_drawing_from_an_output_layer_follows_its_softmax(temperature):
    g = torch.Generator().manual_seed(8)
    W, b, a = torch.randn(6, 4, generator=g), torch.randn(6, generator=g), torch.randn(1, 4, generator=g)
    sampler = Sampler(temperature, generator=torch.Generator().manual_seed(1))
    n = 20_000
    tokens = torch.cat([sampler.from_output(a, W, b) for _ in range(n)])
    p = torch.softmax((a @ W.t() + b).double()[0] / temperature, -1)
    freq = torch.bincount(tokens, minlength=6).double() / n
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt()).all(), (freq, p)


def test_drawing_from_an_output_layer_sees_an_updated_bias_at_once():
    W, b, a = torch.zeros(5, 3), torch.zeros(5), torch.ones(1, 3)
    sampler = Sampler(generator=torch.Generator().manual_seed(0))
    sampler.from_output(a, W, b)                       # noise for the coming steps is drawn with this b
    b[3] = 100.0                                       # e.g. an optimizer step between two steps
    assert [int(sampler.from_output(a, W, b)) for _ in range(5)] == [3] * 5


@pytest.mark.parametrize("options", [dict(temperature=0.0), dict(temperature=1.0, top_k=2),
                                     dict(temperature=1.0, top_p=0.5)])
def test_drawing_from_an_output_layer_with_filters_draws_from_its_logits(options):
    g = torch.Generator().manual_seed(3)
    W, b, a = torch.randn(7, 4, generator=g), torch.randn(7, generator=g), torch.randn(1, 4, generator=g)
    fused = Sampler(generator=torch.Generator().manual_seed(2), **options)
    plain = Sampler(generator=torch.Generator().manual_seed(2), **options)
    for _ in range(30):
        assert torch.equal(fused.from_output(a, W, b), plain(torch.nn.functional.linear(a, W, b)))
