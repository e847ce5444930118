import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.generation import check_sampling, filter_logits, sample_next


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
