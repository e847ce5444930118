"""Choosing tokens (temperature, top-k, top-p, greedy) against independent references, and batched
generation: primes of different lengths, and a batch of N rows drawn like N single draws."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rnnkit.generation import Sampler, batch_primes, check_sampling, filter_logits, sample_next, stepped_loss
from rnnkit.models import LanguageModel


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


def reference_distribution(logits: list[float], temperature: float, top_k=None, top_p=None) -> list[float]:
    """The distribution top-k / top-p sampling draws from, written out plainly (floats, a sort, a loop): the
    softmax of z / T, restricted to the k most likely tokens, then to the smallest prefix of the most likely
    ones whose softmax mass reaches p, renormalised."""
    z = [v / temperature for v in logits]
    order = sorted(range(len(z)), key=lambda i: -z[i])
    keep = order[:top_k] if top_k is not None else order
    top = max(z[i] for i in keep)
    weight = {i: math.exp(z[i] - top) for i in keep}
    if top_p is not None:
        total, mass, prefix = sum(weight.values()), 0.0, []
        for i in keep:
            prefix.append(i)
            mass += weight[i] / total
            if mass >= top_p:
                break
        weight = {i: weight[i] for i in prefix}
    total = sum(weight.values())
    return [weight.get(i, 0.0) / total for i in range(len(z))]


def test_reference_distribution_by_hand():
    """The reference itself, on probabilities chosen so the answer is known."""
    logits = [math.log(p) for p in (0.5, 0.3, 0.15, 0.05)]
    assert reference_distribution(logits, 1.0, top_k=3) == pytest.approx([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0])
    assert reference_distribution(logits, 1.0, top_p=0.7) == pytest.approx([0.625, 0.375, 0, 0])
    assert reference_distribution(logits, 1.0, top_k=1) == [1.0, 0, 0, 0]
    assert reference_distribution(logits, 0.5) == pytest.approx([p * p / 0.365 for p in (0.5, 0.3, 0.15, 0.05)])


@pytest.mark.parametrize("draw", ["Sampler", "sample_next"])
@pytest.mark.parametrize("logits, options, support", [
    ([math.log(p) for p in (0.5, 0.3, 0.15, 0.05)], dict(temperature=1.0, top_p=0.7), {0, 1}),
    ([math.log(p) for p in (0.05, 0.15, 0.5, 0.3)], dict(temperature=1.0, top_p=0.9), {1, 2, 3}),
    ([0.0, 3.0, 1.0, 2.0, -1.0], dict(temperature=2.0, top_k=2), {1, 3}),
    ([0.0, 3.0, 1.0, 2.0, -1.0], dict(temperature=0.0), {1}),
    ([0.0, 3.0, 1.0, 2.0, -1.0], dict(temperature=0.0, top_k=3, top_p=0.2), {1}),
])
def test_top_k_top_p_and_greedy_draw_from_hand_computed_supports(draw, logits, options, support):
    g = torch.Generator().manual_seed(7)
    z = torch.tensor([logits]).expand(500, -1).contiguous()
    if draw == "Sampler":
        tokens = Sampler(generator=g, **options)(z)
    else:
        tokens = sample_next(z, options["temperature"], options.get("top_k"), options.get("top_p"), g)
    assert set(tokens.tolist()) == support


@pytest.mark.parametrize("draw", ["Sampler", "sample_next"])
@pytest.mark.parametrize("options", [dict(temperature=0.9, top_k=4), dict(temperature=1.1, top_p=0.8),
                                     dict(temperature=0.7, top_k=5, top_p=0.9)])
def test_top_k_and_top_p_follow_an_independent_reference(draw, options):
    """Chi-square goodness of fit of 4,000 draws (fixed seed) against :func:`reference_distribution`."""
    logits = [0.3, -1.2, 1.7, 0.9, -0.4, 2.1, 0.0, -2.5]
    p = reference_distribution(logits, options["temperature"], options.get("top_k"), options.get("top_p"))
    n, g = 4000, torch.Generator().manual_seed(21)
    z = torch.tensor([logits]).expand(n, -1).contiguous()
    if draw == "Sampler":
        tokens = Sampler(generator=g, **options)(z)
    else:
        tokens = sample_next(z, options["temperature"], options.get("top_k"), options.get("top_p"), g)
    counts = torch.bincount(tokens, minlength=len(logits)).tolist()
    inside = [i for i, q in enumerate(p) if q > 0]
    assert all(counts[i] == 0 for i, q in enumerate(p) if q == 0)
    result = stats.chisquare([counts[i] for i in inside], [n * p[i] for i in inside])
    assert result.pvalue > 1e-3, (counts, p)


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


# Batched generation: a batch of N rows is N independent draws, each from its own prime.

def tiny_lm(seed: int = 0, **options) -> LanguageModel:
    """V = 4, so that two steps make 16 outcomes, each with enough mass for a chi-square test."""
    torch.manual_seed(seed)
    return LanguageModel(4, 6, num_layers=2, **options).eval()


def exact_two_token_distribution(lm: LanguageModel, prime: list[int]) -> torch.Tensor:
    """P(y<1> = i, y<2> = j | prime) (4, 4) by the chain rule, from plain forward calls (no stepper)."""
    with torch.no_grad():
        first = torch.softmax(lm(torch.tensor([prime]))[0][0, -1].double(), -1)            # (V,)
        seconds = torch.stack([torch.softmax(lm(torch.tensor([prime + [i]]))[0][0, -1].double(), -1)
                               for i in range(4)])                                        # (V, V)
    return first.unsqueeze(1) * seconds


def pair_counts(pairs: torch.Tensor) -> torch.Tensor:
    """(N, 2) ids → counts of the 16 outcomes (4, 4)."""
    return torch.bincount(pairs[:, 0] * 4 + pairs[:, 1], minlength=16).view(4, 4)


@pytest.mark.parametrize("options", [dict(temperature=1.0), dict(temperature=0.8, top_k=3)])
def test_a_batch_draws_like_single_draws_and_like_the_model(options):
    """600 rows drawn as one batch, and 600 single draws, each against the exact model distribution
    (chi-square goodness of fit), and against each other (chi-square test of homogeneity)."""
    lm, prime, n = tiny_lm(), [1, 2], 600
    exact = exact_two_token_distribution(lm, prime)
    if options.get("top_k"):                                   # top-k of each step: renormalise per step
        with torch.no_grad():
            z1 = lm(torch.tensor([prime]))[0][0, -1].tolist()
            p1 = torch.tensor(reference_distribution(z1, options["temperature"], options["top_k"]))
            p2 = torch.stack([torch.tensor(reference_distribution(lm(torch.tensor([prime + [i]]))[0][0, -1].tolist(),
                                                                  options["temperature"], options["top_k"]))
                              for i in range(4)])
        exact = (p1.unsqueeze(1) * p2).double()
    batched = lm.generate(torch.tensor([prime] * n), 2, generator=torch.Generator().manual_seed(3), **options)
    g = torch.Generator().manual_seed(4)
    single = torch.stack([lm.generate(torch.tensor(prime), 2, generator=g, **options) for _ in range(n)])
    for pairs in (batched, single):
        counts = pair_counts(pairs).flatten().double()
        inside = exact.flatten() > 0
        assert counts[~inside].sum() == 0
        fit = stats.chisquare(counts[inside], n * exact.flatten()[inside] / exact.flatten()[inside].sum())
        assert fit.pvalue > 1e-3, (counts.view(4, 4), exact)
    table = torch.stack([pair_counts(batched).flatten(), pair_counts(single).flatten()])
    table = table[:, table.sum(0) > 0]
    assert stats.chi2_contingency(table.numpy()).pvalue > 1e-3


def test_seeded_batches_are_deterministic_and_rows_differ():
    lm = tiny_lm()
    draw = lambda seed: lm.generate(torch.tensor([[1, 2]] * 8), 12, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(draw(5), draw(5))
    assert not torch.equal(draw(5), draw(6))
    rows = draw(5)
    assert len({tuple(r.tolist()) for r in rows}) > 1                    # the rows are not one draw repeated


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_primes_of_different_lengths_are_each_read_through_their_own_length(cell):
    """Greedy continuations of a ragged batch equal each prime's own; so does the state after the primes."""
    lm = tiny_lm(1, cell=cell)
    primes = [torch.tensor([1, 2, 3, 0, 2]), torch.tensor([3]), torch.tensor([0, 1])]
    together = lm.generate(primes, 6, temperature=0)
    for b, prime in enumerate(primes):
        assert torch.equal(together[b], lm.generate(prime, 6, temperature=0))
    ids, lengths = batch_primes(primes)
    with torch.no_grad():
        state = lm.prime_state(ids, lengths)
        for b, prime in enumerate(primes):
            own = lm.rnn(lm.embed(prime[:-1].unsqueeze(0)))[1] if len(prime) > 1 else None
            for s_k, k in zip(state, range(len(state))):
                expected = own[k][:, 0] if own is not None else torch.zeros_like(s_k[:, b])
                torch.testing.assert_close(s_k[:, b], expected, atol=1e-6, rtol=1e-6)


def test_a_ragged_batch_draws_each_row_from_its_own_prime():
    """First tokens of 400 rows alternating between two primes: each group follows its own prime's softmax."""
    lm, n = tiny_lm(2), 400
    primes = [torch.tensor([1, 2, 3, 1]), torch.tensor([2])] * (n // 2)
    first = lm.generate(primes, 1, generator=torch.Generator().manual_seed(9))[:, 0]
    for group, prime in ((first[0::2], [1, 2, 3, 1]), (first[1::2], [2])):
        with torch.no_grad():
            p = torch.softmax(lm(torch.tensor([prime]))[0][0, -1].double(), -1)
        counts = torch.bincount(group, minlength=4).double()
        assert stats.chisquare(counts, len(group) * p).pvalue > 1e-3, (counts, p)


def test_batch_primes_pads_and_reports_lengths():
    ids, lengths = batch_primes([[5, 6, 7], torch.tensor([1])])
    assert ids.tolist() == [[5, 6, 7], [1, 1, 1]] and lengths.tolist() == [3, 1]
    ids, lengths = batch_primes(torch.tensor([[1, 2], [3, 4]]))
    assert ids.tolist() == [[1, 2], [3, 4]] and lengths.tolist() == [2, 2]


@pytest.mark.parametrize("primes, message", [
    ([], "empty"),
    ([torch.tensor([1]), torch.tensor([], dtype=torch.long)], "prime 1 must hold at least one token id"),
    ([torch.tensor([0.5])], "integer token ids"),
    ([torch.tensor([[1, 2]])], "prime 0 must hold"),
    (torch.tensor([1, 2]), "(B, T)"),
])
def test_bad_primes_are_clear_errors(primes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        batch_primes(primes)


def test_generate_refuses_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        tiny_lm().generate([torch.tensor([1, 9])], 3)


def test_stepped_loss_is_the_forward_loss_of_its_pieces():
    lm = tiny_lm(3)
    ids = torch.randint(4, (64,), generator=torch.Generator().manual_seed(0))
    pieces = ids.view(4, 16)
    with torch.no_grad():
        logits, _ = lm(pieces[:, :-1])
        expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), pieces[:, 1:].reshape(-1))
    assert stepped_loss(lm, ids, streams=4) == pytest.approx(float(expected), abs=1e-6)
    assert abs(stepped_loss(lm, ids, "bf16", streams=4) - float(expected)) < 1e-2
