"""The fused gate layout of every built-in cell, stated once, and the per-call fusion of its weights.

The fast engine stacks a cell's gate weights into one matrix so that one GEMM computes every gate::

    W = [W_g1; W_g2; …]  (G·H, H + X),   W = [W_h | W_x]  with  W_h (G·H, H) reading a<t-1>,  W_x (G·H, X) reading x<t>

in the order :data:`GATE_LAYOUT` gives. The fusion is ``torch.cat`` of the stored parameters, so it is
differentiable and gradients reach ``W_u, b_u, …`` under their own names. Only the exact built-in classes
are listed: a subclass may change the step, so it runs on the reference loop.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from rnnkit.cells import GRUCell, LSTMCell, RNNCell, SimpleGRUCell

# Row blocks of the fused weight, top to bottom. LSTM: the three sigmoid gates first, so that one σ and one
# peephole update cover a contiguous block, then the tanh candidate. GRU: the candidate last, because with
# the reset before the matmul its recurrent block W_cc multiplies Γr * c<t-1>, not c<t-1>.
GATE_LAYOUT: dict[type, tuple[str, ...]] = {
    RNNCell: ("a",),
    SimpleGRUCell: ("u", "c"),
    GRUCell: ("r", "u", "c"),
    LSTMCell: ("u", "f", "o", "c"),
}

# Peephole weights in the order of the sigmoid block of the LSTM layout.
PEEPHOLE_LAYOUT = GATE_LAYOUT[LSTMCell][:3]


def rows(cell_type: type, H: int, first: str, last: str | None = None) -> slice:
    """The rows of the fused weight (and of the gate buffers) that hold gate ``first`` of ``cell_type``'s
    layout, or the consecutive gates ``first`` … ``last``: ``rows(LSTMCell, H, "u", "o")`` is the LSTM's
    sigmoid block, rows 0 … 3H."""
    gates = GATE_LAYOUT[cell_type]
    start, stop = gates.index(first), gates.index(last or first) + 1
    return slice(start * H, stop * H)


class Fused(NamedTuple):
    """One cell's weights fused for the engine (views of one ``torch.cat``, differentiable)."""

    W_h: torch.Tensor                 # (G·H, H): the recurrent block, reads a<t-1>
    W_x: torch.Tensor                 # (G·H, X): the input block, reads x<t>
    b: torch.Tensor | None            # (G·H,)
    extra: torch.Tensor | None        # LSTM peephole P (3, H) | GRU reset_after b_cc (H,) | None


def supported(cell) -> bool:
    """Whether the fast engine knows ``cell``'s step (its exact class is built in)."""
    return type(cell) in GATE_LAYOUT


def fuse(cell) -> Fused:
    """Stack ``cell``'s gate weights in :data:`GATE_LAYOUT` order (one copy, differentiable)."""
    gates = GATE_LAYOUT[type(cell)]
    H = cell.hidden_size
    W = torch.cat([getattr(cell, f"W_{g}") for g in gates]) if len(gates) > 1 else getattr(cell, f"W_{gates[0]}")
    b = None
    if cell.bias:
        b = torch.cat([getattr(cell, f"b_{g}") for g in gates]) if len(gates) > 1 else getattr(cell, f"b_{gates[0]}")
    extra = None
    if isinstance(cell, LSTMCell) and cell.peephole:
        extra = torch.stack([getattr(cell, f"P_{g}") for g in PEEPHOLE_LAYOUT])
    elif isinstance(cell, GRUCell) and cell.reset_after:
        extra = cell.b_cc
    return Fused(W[:, :H], W[:, H:], b, extra)


def kernel_class(cell):
    """The step kernel (see :mod:`rnnkit.engine.kernels`) computing ``cell``'s equations."""
    from rnnkit.engine import kernels

    kind = type(cell)
    if kind is RNNCell:
        return kernels.RNNReLUKernel if cell.nonlinearity == "relu" else kernels.RNNTanhKernel
    if kind is SimpleGRUCell:
        return kernels.SimpleGRUKernel
    if kind is GRUCell:
        return kernels.GRUResetAfterKernel if cell.reset_after else kernels.GRUKernel
    return kernels.PeepholeLSTMKernel if cell.peephole else kernels.LSTMKernel
