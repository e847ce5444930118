"""What every cell shares: the contract, the state, and the documented initialisation.

The cell contract (what :class:`rnnkit.Recurrent` relies on, and what a user-written cell follows):

- attributes ``input_size`` (X) and ``hidden_size`` (H), and ``state_names``, e.g. ``("a",)`` or ``("a", "c")``;
- ``init_state(batch_size) -> state``: a tuple of zeros, one ``(B, H)`` tensor per name;
- ``cell(x_t, state) -> state``: one step, ``x_t`` is ``(B, X)``; ``state[0]`` is always ``a<t>``.

Initialisation (the same as ``torch.nn``): every weight and bias is drawn from ``U(-1/√H, 1/√H)``.
Two options change it: ``recurrent_init="orthogonal"`` makes the recurrent block ``W_?a`` (the first H
columns) of every weight an orthogonal matrix, which keeps gradients from vanishing or exploding early in
training; ``forget_bias`` (LSTM only) sets ``b_f`` to a constant, commonly 1.0, so the cell remembers
by default (Gers et al. 2000; Jozefowicz et al. 2015).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CellBase(nn.Module):
    """Base class of the built-in cells.

    Subclasses set ``gates`` (the names of their weight matrices, ``("c", "u")`` means ``W_c``, ``W_u`` and
    ``b_c``, ``b_u``) and ``state_names``, then call :meth:`_make_gates`.
    """

    gates: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ("a",)

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True,
                 recurrent_init: str = "uniform", device=None, dtype=None):
        super().__init__()
        if int(input_size) < 1 or int(hidden_size) < 1:
            raise ValueError(
                f"input_size and hidden_size must be positive integers, got {input_size} and {hidden_size}")
        if recurrent_init not in ("uniform", "orthogonal"):
            raise ValueError(f"recurrent_init must be 'uniform' or 'orthogonal', got {recurrent_init!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)
        self.recurrent_init = recurrent_init
        self._factory = {"device": device, "dtype": dtype}

    def _make_gates(self) -> None:
        """Create ``W_g`` of shape ``(H, H + X)`` and ``b_g`` of shape ``(H,)`` for every gate ``g``."""
        H, X = self.hidden_size, self.input_size
        for g in self.gates:
            self.register_parameter(f"W_{g}", nn.Parameter(torch.empty(H, H + X, **self._factory)))
            b = nn.Parameter(torch.empty(H, **self._factory)) if self.bias else None
            self.register_parameter(f"b_{g}", b)

    def _new_vector(self) -> nn.Parameter:
        return nn.Parameter(torch.empty(self.hidden_size, **self._factory))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/√H, 1/√H)``, then apply ``recurrent_init``."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            p.uniform_(-k, k)
        if self.recurrent_init == "orthogonal":
            H = self.hidden_size
            for g in self.gates:
                nn.init.orthogonal_(getattr(self, f"W_{g}")[:, :H])

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple[torch.Tensor, ...]:
        """``a<0> = 0`` (and ``c<0> = 0``): one ``(B, H)`` zero tensor per state name."""
        ref = next(self.parameters())
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        return tuple(torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
                     for _ in self.state_names)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def linear(W: torch.Tensor, b: torch.Tensor | None, a_prev: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
    """``W [a<t-1>, x<t>] + b``: the state comes first in the concatenation, the input second."""
    return torch.nn.functional.linear(torch.cat([a_prev, x_t], dim=1), W, b)
