"""The reference engine: the plain loop over the cell, one step at a time.

It is the definition the fast engine is tested against, and it runs any cell that follows the cell
contract (see :mod:`rnnkit.cells.base`), including user-written ones. Autograd builds the graph through
time, so backpropagation through time is exactly the chain rule over these steps.
"""

from __future__ import annotations

import torch


def run_reference(cell, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None = None,
                  reverse: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run ``cell`` over ``x`` (T, B, X) from ``state`` (each (B, H)); return outputs (T, B, H) and the final state.

    With ``lengths`` (B,), step t of sequence b exists only when ``t < lengths[b]``: past its end the state
    is held and the output is zero, so the final state is the one at its own last step. With ``reverse``
    the loop runs t = T-1 … 0, and a sequence's state stays at the initial state until its own last step,
    where the backward direction starts.
    """
    T = x.shape[0]
    steps = range(T - 1, -1, -1) if reverse else range(T)
    outputs: list[torch.Tensor | None] = [None] * T
    for t in steps:
        new = cell(x[t], state)
        if lengths is None:
            state = new
            outputs[t] = new[0]
        else:
            live = (lengths > t).unsqueeze(1)  # (B, 1): is step t inside sequence b?
            state = tuple(torch.where(live, n, s) for n, s in zip(new, state))
            outputs[t] = torch.where(live, new[0], torch.zeros_like(new[0]))
    return torch.stack(outputs), tuple(state)
