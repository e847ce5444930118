"""The vanilla RNN cell."""

from __future__ import annotations

import torch

from rnnkit.cells.base import CellBase, linear

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


class RNNCell(CellBase):
    """One step of a vanilla RNN::

        a<t> = g(W_a [a<t-1>, x<t>] + b_a)        W_a = [W_aa | W_ax],  g = tanh or relu

    Shapes: ``x_t`` (B, X), state ``(a,)`` with ``a`` (B, H); ``W_a`` (H, H + X), ``b_a`` (H,).

    Example::

        cell = RNNCell(3, 5)
        (a,) = cell(torch.randn(2, 3), cell.init_state(2))   # a: (2, 5)
    """

    gates = ("a",)
    state_names = ("a",)

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", **options):
        super().__init__(input_size, hidden_size, **options)
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._make_gates()
        self.reset_parameters()

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
        (a_prev,) = state
        g = _NONLINEARITIES[self.nonlinearity]
        a_t = g(linear(self.W_a, self.b_a, a_prev, x_t))    # a<t> = g(W_a [a<t-1>, x<t>] + b_a)
        return (a_t,)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")
