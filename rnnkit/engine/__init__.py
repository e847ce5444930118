"""Forward and backward through time: the plain reference loop and the fast paths."""

from rnnkit.engine.dispatch import ENGINES, engine_for, run_direction
from rnnkit.engine.reference import run_reference
from rnnkit.engine.step import Stepper

__all__ = ["ENGINES", "engine_for", "run_direction", "run_reference", "Stepper"]
