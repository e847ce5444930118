"""The long short-term memory cell, plain and with peephole connections."""

from __future__ import annotations

import torch

from rnnkit.cells.base import CellBase, linear


class LSTMCell(CellBase):
    """One step of an LSTM::

        c̃<t> = tanh(W_c [a<t-1>, x<t>] + b_c)
        Γu   = σ(W_u [a<t-1>, x<t>] + b_u)           update (input) gate
        Γf   = σ(W_f [a<t-1>, x<t>] + b_f)           forget gate
        Γo   = σ(W_o [a<t-1>, x<t>] + b_o)           output gate
        c<t> = Γu * c̃<t> + Γf * c<t-1>
        a<t> = Γo * tanh(c<t>)

    With ``peephole=True`` every gate also reads ``c<t-1>`` through a diagonal weight::

        Γ = σ(W [a<t-1>, x<t>] + P * c<t-1> + b)      P_u, P_f, P_o of shape (H,)

    ``forget_bias`` (e.g. 1.0) sets ``b_f`` to that constant after the uniform initialisation.

    Shapes: ``x_t`` (B, X), state ``(a, c)`` each (B, H); ``W_*`` (H, H + X); ``b_*``, ``P_*`` (H,).

    Example::

        cell = LSTMCell(3, 5, peephole=True)
        a, c = cell(torch.randn(2, 3), cell.init_state(2))
    """

    gates = ("c", "u", "f", "o")
    state_names = ("a", "c")

    def __init__(self, input_size: int, hidden_size: int, peephole: bool = False,
                 forget_bias: float | None = None, **options):
        super().__init__(input_size, hidden_size, **options)
        self.peephole = bool(peephole)
        self.forget_bias = forget_bias
        self._make_gates()
        for g in ("u", "f", "o"):
            self.register_parameter(f"P_{g}", self._new_vector() if self.peephole else None)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.forget_bias is not None and self.b_f is not None:
            self.b_f.fill_(self.forget_bias)

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        a_prev, c_prev = state
        c_tilde = torch.tanh(linear(self.W_c, self.b_c, a_prev, x_t))
        if self.peephole:
            gamma_u = torch.sigmoid(linear(self.W_u, self.b_u, a_prev, x_t) + self.P_u * c_prev)
            gamma_f = torch.sigmoid(linear(self.W_f, self.b_f, a_prev, x_t) + self.P_f * c_prev)
            gamma_o = torch.sigmoid(linear(self.W_o, self.b_o, a_prev, x_t) + self.P_o * c_prev)
        else:
            gamma_u = torch.sigmoid(linear(self.W_u, self.b_u, a_prev, x_t))
            gamma_f = torch.sigmoid(linear(self.W_f, self.b_f, a_prev, x_t))
            gamma_o = torch.sigmoid(linear(self.W_o, self.b_o, a_prev, x_t))
        c_t = gamma_u * c_tilde + gamma_f * c_prev
        a_t = gamma_o * torch.tanh(c_t)
        return (a_t, c_t)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", peephole=True" if self.peephole else "")
