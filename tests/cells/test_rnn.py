"""rnnkit/cells/rnn.py: a<t> = g(W_a [a<t-1>, x<t>] + b_a), g = tanh or relu."""

import pytest
import torch

import rnnkit

CELL_CLASSES = (rnnkit.RNNCell,)


def test_step_matches_equations(cell_spec, ref):
    ref.check_step(cell_spec)


def test_gradcheck(cell_spec, ref):
    ref.check_gradcheck(cell_spec)


def test_tanh_by_hand():
    cell = rnnkit.RNNCell(1, 2, dtype=torch.float64)
    with torch.no_grad():
        cell.W_a.copy_(torch.tensor([[0.5, 0.0, 1.0], [0.0, -1.0, 2.0]]))  # [W_aa | W_ax]
        cell.b_a.copy_(torch.tensor([0.1, -0.2]))
    (a,) = cell(torch.tensor([[3.0]], dtype=torch.float64), (torch.tensor([[2.0, 1.0]], dtype=torch.float64),))
    # a = tanh([0.5*2 + 1*3 + 0.1, -1*1 + 2*3 - 0.2]) = tanh([4.1, 4.8])
    torch.testing.assert_close(a, torch.tanh(torch.tensor([[4.1, 4.8]], dtype=torch.float64)))


def test_relu_clips_negative_preactivations():
    cell = rnnkit.RNNCell(1, 2, nonlinearity="relu", bias=False, dtype=torch.float64)
    with torch.no_grad():
        cell.W_a.copy_(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]))
    (a,) = cell(torch.tensor([[2.0]], dtype=torch.float64), cell.init_state(1))
    assert a.tolist() == [[2.0, 0.0]]


def test_bad_nonlinearity_is_refused():
    with pytest.raises(ValueError, match="nonlinearity.*'sigmoid'"):
        rnnkit.RNNCell(2, 3, nonlinearity="sigmoid")
