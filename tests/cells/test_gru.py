"""rnnkit/cells/gru.py: the simplified GRU and the full GRU (reset before the matmul, or after it)."""

import torch

import rnnkit

CELL_CLASSES = (rnnkit.SimpleGRUCell, rnnkit.GRUCell)
F64 = torch.float64


def test_step_matches_equations(cell_spec, ref):
    ref.check_step(cell_spec)


def test_gradcheck(cell_spec, ref):
    ref.check_gradcheck(cell_spec)


def test_update_gate_closed_keeps_memory():
    # Γu = σ(-50) ≈ 0: c<t> = c<t-1> whatever the input (the GRU's long memory)
    for cell in (rnnkit.SimpleGRUCell(2, 3, dtype=F64), rnnkit.GRUCell(2, 3, dtype=F64)):
        with torch.no_grad():
            cell.W_u.zero_()
            cell.b_u.fill_(-50.0)
        c_prev = torch.randn(4, 3, dtype=F64)
        (c,) = cell(torch.randn(4, 2, dtype=F64), (c_prev,))
        torch.testing.assert_close(c, c_prev, atol=1e-15, rtol=0)


def test_update_gate_open_takes_candidate():
    cell = rnnkit.SimpleGRUCell(2, 3, dtype=F64)
    with torch.no_grad():
        cell.W_u.zero_()
        cell.b_u.fill_(50.0)
    x, c_prev = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    (c,) = cell(x, (c_prev,))
    H = 3
    c_tilde = torch.tanh(c_prev @ cell.W_c[:, :H].T + x @ cell.W_c[:, H:].T + cell.b_c)
    torch.testing.assert_close(c, c_tilde, atol=1e-15, rtol=0)


def test_reset_before_and_after_differ_but_agree_when_reset_is_open():
    before = rnnkit.GRUCell(2, 3, dtype=F64)
    after = rnnkit.GRUCell(2, 3, reset_after=True, dtype=F64)
    with torch.no_grad():
        for name in ("W_c", "W_u", "W_r", "b_c", "b_u", "b_r"):
            getattr(after, name).copy_(getattr(before, name))
        after.b_cc.zero_()
    x, c_prev = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    assert not torch.allclose(before(x, (c_prev,))[0], after(x, (c_prev,))[0])
    with torch.no_grad():  # Γr = 1: W_cc (Γr * c) = Γr * (W_cc c), the two forms coincide
        for cell in (before, after):
            cell.W_r.zero_()
            cell.b_r.fill_(60.0)
    torch.testing.assert_close(before(x, (c_prev,))[0], after(x, (c_prev,))[0], atol=1e-14, rtol=0)


def test_only_reset_after_has_b_cc():
    assert rnnkit.GRUCell(2, 3).b_cc is None
    assert rnnkit.GRUCell(2, 3, reset_after=True).b_cc.shape == (3,)
    assert rnnkit.GRUCell(2, 3, reset_after=True, bias=False).b_cc is None
    assert not hasattr(rnnkit.SimpleGRUCell(2, 3), "W_r")
