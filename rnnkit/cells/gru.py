"""Gated recurrent units: the simplified GRU (update gate only) and the full GRU."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.cells.base import CellBase, linear


class SimpleGRUCell(CellBase):
    """One step of the simplified GRU, which has an update gate and no reset gate::

        c̃<t> = tanh(W_c [c<t-1>, x<t>] + b_c)
        Γu   = σ(W_u [c<t-1>, x<t>] + b_u)
        c<t> = Γu * c̃<t> + (1 − Γu) * c<t-1>
        a<t> = c<t>

    Shapes: ``x_t`` (B, X), state ``(a,)`` with ``a = c`` (B, H); ``W_c, W_u`` (H, H + X); ``b_c, b_u`` (H,).

    Example::

        cell = SimpleGRUCell(3, 5)
        (a,) = cell(torch.randn(2, 3), cell.init_state(2))
    """

    gates = ("c", "u")
    state_names = ("a",)

    def __init__(self, input_size: int, hidden_size: int, **options):
        super().__init__(input_size, hidden_size, **options)
        self._make_gates()
        self.reset_parameters()

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
        (c_prev,) = state
        c_tilde = torch.tanh(linear(self.W_c, self.b_c, c_prev, x_t))
        gamma_u = torch.sigmoid(linear(self.W_u, self.b_u, c_prev, x_t))
        c_t = gamma_u * c_tilde + (1 - gamma_u) * c_prev
        return (c_t,)


class GRUCell(CellBase):
    """One step of the full GRU (Cho et al. 2014) with reset and update gates::

        Γr   = σ(W_r [c<t-1>, x<t>] + b_r)
        c̃<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)
        Γu   = σ(W_u [c<t-1>, x<t>] + b_u)
        c<t> = Γu * c̃<t> + (1 − Γu) * c<t-1>
        a<t> = c<t>

    With ``reset_after=True`` (the PyTorch / cuDNN form, kept for exact interop) the reset gate acts after
    the recurrent matmul, which has a bias of its own, ``b_cc``::

        c̃<t> = tanh(W_cx x<t> + b_c + Γr * (W_cc c<t-1> + b_cc))        W_c = [W_cc | W_cx]

    Shapes: ``x_t`` (B, X), state ``(a,)`` with ``a = c`` (B, H); ``W_c, W_u, W_r`` (H, H + X);
    ``b_c, b_u, b_r`` (and ``b_cc``) (H,).

    Example::

        cell = GRUCell(3, 5)
        (a,) = cell(torch.randn(2, 3), cell.init_state(2))
    """

    gates = ("c", "u", "r")
    state_names = ("a",)

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = False, **options):
        super().__init__(input_size, hidden_size, **options)
        self.reset_after = bool(reset_after)
        self._make_gates()
        self.register_parameter("b_cc", self._new_vector() if self.reset_after and self.bias else None)
        self.reset_parameters()

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
        (c_prev,) = state
        gamma_r = torch.sigmoid(linear(self.W_r, self.b_r, c_prev, x_t))
        if self.reset_after:
            H = self.hidden_size
            W_cc, W_cx = self.W_c[:, :H], self.W_c[:, H:]
            c_tilde = torch.tanh(nn.functional.linear(x_t, W_cx, self.b_c)
                                 + gamma_r * nn.functional.linear(c_prev, W_cc, self.b_cc))
        else:
            c_tilde = torch.tanh(linear(self.W_c, self.b_c, gamma_r * c_prev, x_t))
        gamma_u = torch.sigmoid(linear(self.W_u, self.b_u, c_prev, x_t))
        c_t = gamma_u * c_tilde + (1 - gamma_u) * c_prev
        return (c_t,)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", reset_after=True" if self.reset_after else "")
