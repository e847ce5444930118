"""The fast engine equals the reference loop: outputs, final states and every gradient (input, initial
state, each named parameter), for every cell × deep × bidirectional × lengths × carried state."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

from rnnkit.engine.bptt import Recurrence, live_mask
from rnnkit.engine.layout import fuse, kernel_class
from tests.conftest import LAYER_CLASS

T, B, X, H = 5, 3, 3, 4
LENGTHS = torch.tensor([5, 2, 4])

# (num_layers, bidirectional, lengths, carried state): all 16, for every cell form.
SHAPES = [pytest.param(*combo, id="L{}-{}-{}-{}".format(combo[0], "bi" if combo[1] else "uni",
                                                         "lengths" if combo[2] else "full",
                                                         "carry" if combo[3] else "zero"))
          for combo in itertools.product((1, 2), (False, True), (False, True), (False, True))]


def build(cell_spec, dtype, device="cpu", **layer_options):
    cls, options = cell_spec
    fast = LAYER_CLASS[cls](X, H, dtype=dtype, **layer_options, **options).to(device)
    reference = copy.deepcopy(fast)
    reference.engine = "reference"
    return fast, reference


def run_both(cell_spec, dtype, num_layers, bidirectional, lengths, carry, device="cpu", **options):
    """Outputs, final state and gradients of (input, parameters, initial state) under both engines."""
    fast, reference = build(cell_spec, dtype, device, num_layers=num_layers, bidirectional=bidirectional, **options)
    x = torch.randn(T, B, X, dtype=dtype).to(device).requires_grad_()
    D = 2 if bidirectional else 1
    state = (tuple(torch.randn(num_layers * D, B, H, dtype=dtype).to(device).requires_grad_()
                   for _ in fast.state_names) if carry else None)
    results = []
    for layer in (fast, reference):
        y, final = layer(x, state, lengths=LENGTHS.to(device) if lengths else None)
        weights = torch.linspace(-1, 2, y.numel(), dtype=dtype, device=device).view_as(y)  # each output differs
        loss = (y * weights).sum() + sum((s * s).sum() for s in final)
        inputs = [x, *layer.parameters(), *(state or ())]
        results.append((y, final, torch.autograd.grad(loss, inputs)))
    return results


def assert_close(results, atol, rtol=0.0):
    (y1, s1, g1), (y2, s2, g2) = results
    torch.testing.assert_close(y1, y2, atol=atol, rtol=rtol)
    for a, b in zip(s1, s2):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)
    assert len(g1) == len(g2)
    for i, (a, b) in enumerate(zip(g1, g2)):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol, msg=lambda m, i=i: f"gradient {i} differs: {m}")


@pytest.mark.parametrize("num_layers,bidirectional,lengths,carry", SHAPES)
def test_engine_equals_reference_float64(cell_spec, num_layers, bidirectional, lengths, carry):
    assert_close(run_both(cell_spec, torch.float64, num_layers, bidirectional, lengths, carry), atol=1e-10)


def test_engine_equals_reference_float32(cell_spec):
    assert_close(run_both(cell_spec, torch.float32, 2, True, True, True), atol=1e-5)
    assert_close(run_both(cell_spec, torch.float32, 2, False, False, True), atol=1e-5)


def test_dropout_between_layers_matches_reference(biased_cell_spec):
    fast, reference = build(biased_cell_spec, torch.float64, num_layers=3, dropout=0.5)
    x = torch.randn(T, B, X, dtype=torch.float64)
    outs = []
    for layer in (fast, reference):
        torch.manual_seed(7)                    # the same dropout masks for both
        y, _ = layer(x, lengths=LENGTHS)
        outs.append((y, torch.autograd.grad(y.sum(), list(layer.parameters()))))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-10, rtol=0)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_recurrence_gradcheck(biased_cell_spec, reverse, with_lengths):
    """First-order numeric gradient check of the hand-written backward, float64, every input."""
    cls, options = biased_cell_spec
    cell = cls(X, H, dtype=torch.float64, **options)
    W_h, W_x, b, extra = (None if t is None else t.detach().clone().requires_grad_() for t in fuse(cell))
    x = torch.randn(4, 2, X, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(2, H, dtype=torch.float64, requires_grad=True) for _ in cell.state_names)
    live = live_mask(torch.tensor([4, 2]), 4) if with_lengths else None

    def f(x, W_x, b, W_h, extra, *state):
        return Recurrence.apply(kernel_class(cell), reverse, x, W_x, b, W_h, extra, live, *state)

    assert torch.autograd.gradcheck(f, (x, W_x, b, W_h, extra, *state))


def test_outputs_are_zero_past_the_end_and_state_held(biased_cell_spec):
    fast, reference = build(biased_cell_spec, torch.float64, bidirectional=True)
    x = torch.randn(T, B, X, dtype=torch.float64)
    y, final = fast(x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS.tolist()):              # every sequence, the longest included
        assert torch.all(y[length:, b] == 0)
        y_alone, final_alone = fast(x[:length, b:b + 1])     # sequence b alone, unpadded
        torch.testing.assert_close(y[:length, b:b + 1], y_alone, atol=1e-12, rtol=0)
        for s, s_alone in zip(final, final_alone):
            torch.testing.assert_close(s[:, b:b + 1], s_alone, atol=1e-12, rtol=0)
