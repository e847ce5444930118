"""Choose the engine for one direction of one layer."""

from __future__ import annotations

import torch

from rnnkit.engine.bptt import run_fused
from rnnkit.engine.layout import supported
from rnnkit.engine.reference import run_reference

ENGINES = ("auto", "reference")


def engine_for(cell, engine: str = "auto") -> str:
    """The engine that runs ``cell``: ``"fused"`` for a built-in cell under ``"auto"``, else ``"reference"``."""
    return "fused" if engine == "auto" and supported(cell) else "reference"


def run_direction(cell, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None,
                  reverse: bool, engine: str = "auto"):
    """Run one direction of one layer; ``engine="reference"`` forces the plain loop over the cell."""
    if engine_for(cell, engine) == "fused":
        return run_fused(cell, x, state, lengths, reverse)
    return run_reference(cell, x, state, lengths, reverse)
