"""Compiled batch-1 kernels for generation (``step.c``), built on first use where a C compiler is found."""

from rnnkit.engine.native.build import cache_dir, library, reason
from rnnkit.engine.native.calls import STEPS, available, bind_step, linear_row

__all__ = ["STEPS", "available", "bind_step", "cache_dir", "library", "linear_row", "reason"]
