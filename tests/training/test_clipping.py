"""rnnkit/training/clipping.py: clipping by global norm and by value; non-finite gradients reported."""

import math
import warnings

import pytest
import torch

from rnnkit import clip_gradients


def _params(*grads):
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(len(g), dtype=torch.float64))
        p.grad = torch.tensor(g, dtype=torch.float64)
        params.append(p)
    return params


def test_norm_before_clipping_and_rescale_to_max_norm():
    params = _params([3.0, 0.0], [0.0, 4.0, 12.0])  # ‖g‖ = √(9 + 16 + 144) = 13
    result = clip_gradients(params, max_norm=6.5)
    assert result.norm == pytest.approx(13.0)
    assert result.clipped and result.finite
    torch.testing.assert_close(params[0].grad, torch.tensor([1.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(params[1].grad, torch.tensor([0.0, 2.0, 6.0], dtype=torch.float64))
    after = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
    assert after == pytest.approx(6.5, rel=1e-6)


def test_below_max_norm_untouched():
    params = _params([3.0, 4.0])
    result = clip_gradients(params, max_norm=5.0)
    assert result.norm == pytest.approx(5.0) and not result.clipped
    assert params[0].grad.tolist() == [3.0, 4.0]


def test_by_value():
    params = _params([-3.0, 0.5, 2.0])
    result = clip_gradients(params, max_value=1.0)
    assert result.norm == pytest.approx(math.sqrt(9 + 0.25 + 4))
    assert result.clipped
    assert params[0].grad.tolist() == [-1.0, 0.5, 1.0]


def test_value_then_norm():
    params = _params([-3.0, 0.5, 2.0])
    result = clip_gradients(params, max_value=1.0, max_norm=1.0)
    assert result.clipped and result.norm == pytest.approx(math.sqrt(13.25))
    scale = 1.0 / math.sqrt(1 + 0.25 + 1)
    torch.testing.assert_close(params[0].grad, torch.tensor([-scale, 0.5 * scale, scale], dtype=torch.float64),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_non_finite_reported_and_left_untouched(bad):
    params = _params([1.0, bad], [100.0])
    with pytest.warns(RuntimeWarning, match="non-finite"):
        result = clip_gradients(params, max_norm=1.0, max_value=0.5)
    assert not result.finite and not result.clipped
    assert math.isinf(result.norm) or math.isnan(result.norm)
    assert params[1].grad.tolist() == [100.0]
    assert params[0].grad[0].item() == 1.0


def test_non_finite_warning_can_be_silenced():
    params = _params([math.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not clip_gradients(params, max_norm=1.0, warn_nonfinite=False).finite


def test_parameters_without_gradients_are_skipped():
    params = _params([3.0, 4.0]) + [torch.nn.Parameter(torch.ones(2))]
    assert clip_gradients(params, max_norm=1.0).norm == pytest.approx(5.0)
    assert clip_gradients([torch.nn.Parameter(torch.ones(2))], max_norm=1.0).norm == 0.0


def test_works_on_a_real_bptt_gradient():
    import rnnkit

    layer = rnnkit.LSTM(3, 4, num_layers=2)
    y, _ = layer(torch.randn(6, 2, 3))
    (100 * y.sum()).backward()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in layer.parameters()))
    result = clip_gradients(layer.parameters(), max_norm=0.1)
    assert result.norm == pytest.approx(norm, rel=1e-5)
    after = math.sqrt(sum(float((p.grad ** 2).sum()) for p in layer.parameters()))
    assert after == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize("kwargs", [{"max_norm": 0.0}, {"max_norm": -1.0}, {"max_value": 0.0}])
def test_bad_limits(kwargs):
    with pytest.raises(ValueError, match="must be positive"):
        clip_gradients(_params([1.0]), **kwargs)
