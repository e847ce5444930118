"""Choose the engine for one direction of one layer."""

from __future__ import annotations

import torch

from rnnkit.engine.reference import run_reference

ENGINES = ("auto", "reference")


def run_direction(cell, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None,
                  reverse: bool, engine: str = "auto"):
    """Run one direction of one layer; ``engine="reference"`` forces the plain loop over the cell."""
    return run_reference(cell, x, state, lengths, reverse)
