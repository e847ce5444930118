"""Learning-rate schedules: linear warmup, then constant, cosine, step decay, or decay on plateau.

Every schedule except ``plateau`` is a pure function of the step, so resuming needs no scheduler state;
``plateau`` keeps two numbers, saved in ``state.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "cosine", "step", "plateau")


@dataclass
class LRSchedule:
    """``lr(step)`` for step = 0 … total - 1.

    - warmup: the first ``warmup`` steps rise linearly from ``lr / warmup`` to ``lr``;
    - ``cosine``: then decay to ``min_lr_ratio · lr`` along a half cosine by the last step (or, when training
      has a time limit, by the end of the time budget if that comes first);
    - ``step``: multiply by ``gamma`` every ``step_size`` steps;
    - ``plateau``: multiply by ``gamma`` when the validation loss has not improved for ``patience``
      evaluations (call :meth:`observe` with each validation loss).
    """

    lr: float
    total: int
    kind: str = "constant"
    warmup: int = 0
    min_lr_ratio: float = 0.1
    gamma: float = 0.5
    step_size: int = 1000
    patience: int = 2
    # plateau state
    best: float = math.inf
    bad_evals: int = 0
    scale: float = 1.0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}: choose one of {', '.join(SCHEDULES)}")

    def __call__(self, step: int, elapsed: float | None = None) -> float:
        """The learning rate of ``step``; ``elapsed`` (a fraction of a time budget) can move cosine forward."""
        if self.warmup and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.kind == "cosine":
            span = max(1, self.total - self.warmup - 1)
            progress = min(1.0, max((step - self.warmup) / span, elapsed or 0.0))
            ratio = self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
            return self.lr * ratio
        if self.kind == "step":
            return self.lr * self.gamma ** ((step - self.warmup) // max(1, self.step_size))
        if self.kind == "plateau":
            return self.lr * self.scale
        return self.lr

    def observe(self, valid_loss: float) -> None:
        """Feed a validation loss (only ``plateau`` uses it)."""
        if self.kind != "plateau":
            return
        if valid_loss < self.best - 1e-4:
            self.best, self.bad_evals = valid_loss, 0
        else:
            self.bad_evals += 1
            if self.bad_evals >= self.patience:
                self.scale *= self.gamma
                self.bad_evals = 0

    def state(self) -> dict:
        return {"best": self.best if math.isfinite(self.best) else None, "bad_evals": self.bad_evals,
                "scale": self.scale}

    def load_state(self, state: dict) -> None:
        self.best = math.inf if state.get("best") is None else state["best"]
        self.bad_evals, self.scale = state.get("bad_evals", 0), state.get("scale", 1.0)
