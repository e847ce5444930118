"""rnnkit/output.py: ŷ<t> = g(W_ya a<t> + b_y), g = softmax or sigmoid."""

import math

import pytest
import torch

from rnnkit import OutputLayer

F64 = torch.float64


def test_shapes_and_init():
    head = OutputLayer(16, 7)
    assert head.W_ya.shape == (7, 16) and head.b_y.shape == (7,)
    k = 1 / math.sqrt(16)
    assert head.W_ya.abs().max() <= k and head.b_y.abs().max() <= k
    assert head(torch.randn(5, 2, 16)).shape == (5, 2, 7)


def test_logits_are_the_affine_map():
    head = OutputLayer(3, 4, dtype=F64)
    a = torch.randn(5, 2, 3, dtype=F64)
    want = torch.einsum("tbh,yh->tby", a, head.W_ya) + head.b_y
    torch.testing.assert_close(head(a), want, rtol=0, atol=1e-14)


def test_softmax_prediction():
    head = OutputLayer(3, 4, dtype=F64)
    a = torch.randn(5, 3, dtype=F64)
    z = head(a)
    y_hat = head.predict(a)
    torch.testing.assert_close(y_hat, torch.exp(z) / torch.exp(z).sum(dim=-1, keepdim=True))
    torch.testing.assert_close(y_hat.sum(dim=-1), torch.ones(5, dtype=F64))


def test_sigmoid_prediction():
    head = OutputLayer(3, 4, activation="sigmoid", dtype=F64)
    a = torch.randn(5, 3, dtype=F64)
    torch.testing.assert_close(head.predict(a), 1 / (1 + torch.exp(-head(a))))
    assert not torch.allclose(head.predict(a).sum(dim=-1), torch.ones(5, dtype=F64))


def test_bad_activation():
    with pytest.raises(ValueError, match="activation.*'tanh'"):
        OutputLayer(3, 4, activation="tanh")
