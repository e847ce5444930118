"""The stepping path for generation: equals the cell, reuses its fused weights, notices parameter updates."""

from __future__ import annotations

import torch

import rnnkit
from rnnkit.engine import step as step_module
from tests.conftest import LAYER_CLASS


def test_step_equals_reference_step(cell_spec):
    cls, options = cell_spec
    layer = LAYER_CLASS[cls](3, 5, num_layers=2, dtype=torch.float64, **options)
    state = tuple(torch.randn(2, 4, 5, dtype=torch.float64) for _ in layer.state_names)
    x_t = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        a, new = layer.step(x_t, state)
        layer.engine = "reference"
        a_ref, new_ref = layer.step(x_t, state)
    torch.testing.assert_close(a, a_ref, atol=1e-12, rtol=0)
    for s, s_ref in zip(new, new_ref):
        torch.testing.assert_close(s, s_ref, atol=1e-12, rtol=0)


def test_fused_weights_are_cached_until_a_parameter_changes():
    layer = rnnkit.LSTM(3, 5)
    cell = layer.cells[0]
    with torch.no_grad():
        first, _ = step_module.cached_fused(cell)
        again, _ = step_module.cached_fused(cell)
        assert again.W_h is first.W_h                          # no re-fusing on a repeated call
        cell.W_u.add_(1.0)                                     # an optimizer-style in-place update
        updated, _ = step_module.cached_fused(cell)
    assert updated.W_h is not first.W_h
    torch.testing.assert_close(updated.W_h[:5], cell.W_u[:, :5])
    x_t = torch.randn(2, 3)
    with torch.no_grad():
        a, _ = layer.step(x_t)
        layer.engine = "reference"
        a_ref, _ = layer.step(x_t)
    torch.testing.assert_close(a, a_ref, atol=1e-6, rtol=0)


def test_step_with_grad_keeps_the_graph():
    layer = rnnkit.GRU(3, 5)
    a, _ = layer.step(torch.randn(2, 3))
    a.sum().backward()
    assert layer.cells[0].W_c.grad is not None and layer.cells[0].W_c.grad.abs().sum() > 0
