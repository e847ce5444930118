"""rnnkit/cells/lstm.py: the LSTM, plain and with peephole connections."""

import torch

import rnnkit

CELL_CLASSES = (rnnkit.LSTMCell,)
F64 = torch.float64


def test_step_matches_equations(cell_spec, ref):
    ref.check_step(cell_spec)


def test_gradcheck(cell_spec, ref):
    ref.check_gradcheck(cell_spec)


def test_gates_by_hand():
    # all weights zero, biases chosen: Γu = σ(0) = 1/2, Γf = σ(big) = 1, Γo = σ(0) = 1/2, c̃ = tanh(b_c)
    cell = rnnkit.LSTMCell(2, 1, dtype=F64)
    with torch.no_grad():
        for g in "cufo":
            getattr(cell, f"W_{g}").zero_()
        cell.b_c.fill_(0.3)
        cell.b_u.fill_(0.0)
        cell.b_f.fill_(60.0)
        cell.b_o.fill_(0.0)
    a, c = cell(torch.randn(1, 2, dtype=F64), (torch.zeros(1, 1, dtype=F64), torch.full((1, 1), 2.0, dtype=F64)))
    c_want = 0.5 * torch.tanh(torch.tensor(0.3, dtype=F64)) + 2.0
    torch.testing.assert_close(c, c_want.reshape(1, 1))
    torch.testing.assert_close(a, 0.5 * torch.tanh(c_want).reshape(1, 1))


def test_peephole_reads_previous_memory():
    cell = rnnkit.LSTMCell(2, 3, peephole=True, dtype=F64)
    x, a_prev = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    c_prev = torch.randn(4, 3, dtype=F64)
    with_peep = cell(x, (a_prev, c_prev))
    with torch.no_grad():
        for g in "ufo":
            getattr(cell, f"P_{g}").zero_()
    plain = rnnkit.LSTMCell(2, 3, dtype=F64)
    plain.load_state_dict({k: v for k, v in cell.state_dict().items() if not k.startswith("P_")})
    without = cell(x, (a_prev, c_prev))
    for u, v in zip(without, plain(x, (a_prev, c_prev))):
        torch.testing.assert_close(u, v, atol=1e-15, rtol=0)
    assert not torch.allclose(with_peep[0], without[0])


def test_peephole_parameters_only_when_asked():
    assert all(getattr(rnnkit.LSTMCell(2, 3), f"P_{g}") is None for g in "ufo")
    assert all(getattr(rnnkit.LSTMCell(2, 3, peephole=True), f"P_{g}").shape == (3,) for g in "ufo")


def test_forget_bias_sets_b_f_only():
    cell = rnnkit.LSTMCell(2, 5, forget_bias=1.0)
    assert torch.equal(cell.b_f, torch.ones(5))
    k = 1 / 5 ** 0.5
    assert all(getattr(cell, f"b_{g}").abs().max() <= k for g in "cuo")
    cell.reset_parameters()  # re-initialising keeps the documented forget bias
    assert torch.equal(cell.b_f, torch.ones(5))
    assert rnnkit.LSTMCell(2, 5, forget_bias=1.0, bias=False).b_f is None
