"""Gradient clipping, the cure for exploding gradients in backpropagation through time."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable

import torch


@dataclass(frozen=True)
class ClipResult:
    """What :func:`clip_gradients` saw: the global norm before clipping, and whether it was finite."""

    norm: float
    clipped: bool
    finite: bool


def clip_gradients(parameters: Iterable[torch.Tensor], max_norm: float | None = None,
                   max_value: float | None = None, warn_nonfinite: bool = True) -> ClipResult:
    """Clip gradients in place and report the global norm ``‖g‖₂`` measured before clipping.

    - by norm (``max_norm``): if ``‖g‖ > max_norm``, every gradient is rescaled by ``max_norm / ‖g‖``, which
      keeps the direction of the step;
    - by value (``max_value``): every component is clamped to ``[−max_value, max_value]``.

    Both may be given (value first, then norm). A non-finite norm (inf or NaN: an exploded gradient) is
    reported in the result, with a warning, and the gradients are left untouched so the caller can skip
    the step.

    Example::

        loss.backward()
        result = clip_gradients(model.parameters(), max_norm=5.0)
        if result.finite:
            optimizer.step()
    """
    params = [p for p in parameters if p.grad is not None]
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    if max_value is not None and not max_value > 0:
        raise ValueError(f"max_value must be positive, got {max_value}")
    if not params:
        return ClipResult(norm=0.0, clipped=False, finite=True)
    norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
    finite = math.isfinite(norm)
    if not finite:
        if warn_nonfinite:
            warnings.warn(f"non-finite gradient norm ({norm}): gradients exploded or the loss is not finite",
                          RuntimeWarning, stacklevel=2)
        return ClipResult(norm=norm, clipped=False, finite=False)
    clipped = False
    if max_value is not None:
        torch.nn.utils.clip_grad_value_(params, max_value)
        clipped = any(bool((p.grad.abs() >= max_value).any()) for p in params)
    if max_norm is not None:
        current = float(torch.nn.utils.get_total_norm([p.grad for p in params])) if clipped else norm
        if current > max_norm:
            torch.nn.utils.clip_grads_with_norm_(params, max_norm, torch.tensor(current))
            clipped = True
    return ClipResult(norm=norm, clipped=clipped, finite=True)
