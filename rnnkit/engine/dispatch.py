"""Choose the engine for one direction of one layer."""

from __future__ import annotations

import torch

from rnnkit.engine.bptt import run_fused
from rnnkit.engine.layout import supported
from rnnkit.engine.reference import run_reference
from rnnkit.engine.torch_lstm import lends_to_torch, run_torch_lstm

ENGINES = ("auto", "reference")


def engine_for(cell, engine: str = "auto", lengths: torch.Tensor | None = None, batch_size: int | None = None) -> str:
    """The engine that runs ``cell`` under ``engine``: under ``"auto"``, ``"torch"`` (torch's fused kernel)
    for a plain LSTM without padding where it is the faster one, ``"fused"`` (rnnkit's BPTT: compiled loops
    or the hand-written one) for any other built-in cell, and ``"reference"`` (the plain loop) for a
    user-written cell."""
    if engine != "auto" or not supported(cell):
        return "reference"
    return "torch" if lends_to_torch(cell, lengths, batch_size) else "fused"


def run_direction(cell, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None,
                  reverse: bool, engine: str = "auto"):
    """Run one direction of one layer; ``engine="reference"`` forces the plain loop over the cell.

    Under autocast (``--precision bf16``) only torch's kernel computes in the lower precision: rnnkit's own
    engines (compiled float32 loops, hand-written BPTT, the plain loop) run with autocast off on float32
    inputs, and their outputs and final state are float32."""
    chosen = engine_for(cell, engine, lengths, x.shape[1])
    run = {"torch": run_torch_lstm, "fused": run_fused, "reference": run_reference}[chosen]
    if chosen != "torch" and torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return run(cell, x.float(), tuple(s.float() for s in state), lengths, reverse)
    return run(cell, x, state, lengths, reverse)
