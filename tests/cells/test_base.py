"""rnnkit/cells/base.py: the cell contract, parameter names and shapes, initialisation."""

import math

import pytest
import torch

import rnnkit

X, H = 3, 5
# DESIGN.md §2: names from the notation; every W_* (H, H + X), every b_*, P_* (H,)
EXPECTED = {
    ("RNNCell", ()): {"W_a", "b_a"},
    ("SimpleGRUCell", ()): {"W_c", "b_c", "W_u", "b_u"},
    ("GRUCell", ()): {"W_c", "b_c", "W_u", "b_u", "W_r", "b_r"},
    ("GRUCell", ("reset_after",)): {"W_c", "b_c", "W_u", "b_u", "W_r", "b_r", "b_cc"},
    ("LSTMCell", ()): {"W_c", "W_u", "W_f", "W_o", "b_c", "b_u", "b_f", "b_o"},
    ("LSTMCell", ("peephole",)): {"W_c", "W_u", "W_f", "W_o", "b_c", "b_u", "b_f", "b_o", "P_u", "P_f", "P_o"},
}


def _key(cell_spec):
    cls, opts = cell_spec
    return cls.__name__, tuple(k for k in ("reset_after", "peephole") if opts.get(k))


def test_parameter_names_and_shapes(cell_spec):
    cls, opts = cell_spec
    cell = cls(X, H, **opts)
    names = EXPECTED[_key(cell_spec)]
    if not opts["bias"]:
        names = {n for n in names if not n.startswith("b_")}
    params = dict(cell.named_parameters())
    assert set(params) == names
    for name, p in params.items():
        assert p.shape == ((H, H + X) if name.startswith("W_") else (H,)), name


def test_contract_attributes_and_init_state(cell_spec):
    cls, opts = cell_spec
    cell = cls(X, H, **opts)
    assert (cell.input_size, cell.hidden_size) == (X, H)
    assert cell.state_names == (("a", "c") if cls is rnnkit.LSTMCell else ("a",))
    state = cell.init_state(4)
    assert isinstance(state, tuple) and len(state) == len(cell.state_names)
    assert all(s.shape == (4, H) and not s.any() for s in state)
    assert cell.init_state(2, dtype=torch.float64)[0].dtype == torch.float64
    out = cell(torch.randn(4, X), state)
    assert isinstance(out, tuple) and len(out) == len(state) and out[0].shape == (4, H)


def test_uniform_init_within_one_over_sqrt_h(cell_spec):
    cls, opts = cell_spec
    hidden = 16
    k = 1 / math.sqrt(hidden)
    cell = cls(X, hidden, **opts)
    for name, p in cell.named_parameters():
        assert p.abs().max() <= k, name
        assert p.abs().max() > 0.7 * k, name  # spread over the range, not a constant
    other = cls(X, hidden, **opts)
    assert not torch.equal(next(cell.parameters()), next(other.parameters()))


def test_orthogonal_recurrent_blocks(cell_spec):
    cls, opts = cell_spec
    cell = cls(X, H, recurrent_init="orthogonal", **opts)
    k = 1 / math.sqrt(H)
    W_names = [n for n, _ in cell.named_parameters() if n.startswith("W_")]
    assert W_names
    for name in W_names:
        W = getattr(cell, name).detach().double()
        W_rec = W[:, :H]
        torch.testing.assert_close(W_rec @ W_rec.T, torch.eye(H, dtype=torch.float64), atol=1e-6, rtol=0)
        assert W[:, H:].abs().max() <= k  # the input block keeps the uniform draw
    uniform = cls(X, H, **opts)
    W_u = next(p for n, p in uniform.named_parameters() if n.startswith("W_")).detach().double()[:, :H]
    assert not torch.allclose(W_u @ W_u.T, torch.eye(H, dtype=torch.float64), atol=1e-3)


def test_dtype_option(cell_spec):
    cls, opts = cell_spec
    cell = cls(X, H, dtype=torch.float64, **opts)
    assert all(p.dtype == torch.float64 for p in cell.parameters())
    assert cell.init_state(2)[0].dtype == torch.float64


@pytest.mark.parametrize("sizes", [(0, 3), (3, 0), (-1, 2)])
def test_sizes_must_be_positive(sizes):
    with pytest.raises(ValueError, match="positive"):
        rnnkit.LSTMCell(*sizes)


def test_unknown_recurrent_init_is_refused():
    with pytest.raises(ValueError, match="recurrent_init.*'xavier'"):
        rnnkit.GRUCell(2, 3, recurrent_init="xavier")
