"""``rnnkit lm train``: the flags are parsed in :mod:`rnnkit.cli.lm`; the task is :mod:`rnnkit.tasks.lm`."""

from __future__ import annotations

from rnnkit.tasks.lm import LMTask
from rnnkit.training.driver import train as run_training


def train(args) -> int:
    return run_training(args, LMTask())
