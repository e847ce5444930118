"""What a task supplies to the one trainer: its loss on a batch, its evaluation, and its state policy.

The trainer (:class:`rnnkit.training.trainer.Trainer`) owns everything else — the loop, clipping, schedules,
checkpoints, exact resume, early stopping, the best checkpoint, progress, logging and data parallelism — so a
new task is a new :class:`Objective` and its batches.

Batches: any object with ``len(batches)`` (batches per epoch) and ``batches.iter_from(start, epoch)`` (the
batches of ``epoch`` from index ``start`` on, the same every time they are asked for: exact resume depends on
it). :class:`rnnkit.data.StreamBatches` (token streams) and :class:`rnnkit.data.ExampleBatches` (examples
grouped by length, with ``lengths``) are the two kinds.

State policy: an objective with ``carries_state = True`` (truncated BPTT over a token stream) gets the state
its previous batch ended in and returns the new one; the trainer detaches it, checkpoints it, and resets it at
every epoch boundary and after a skipped step. Objectives of independent examples pass ``None`` through.

Evaluation returns a dict of validation metrics: ``"loss"`` always (the plateau schedule reads it) and the
one named by ``monitor``, which alone decides the best checkpoint and early stopping.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch


class Objective(Protocol):
    """The task-specific part of training.

    Attributes:
        monitor: the key of :meth:`evaluate`'s dict that picks the best checkpoint (``"loss"``, ``"accuracy"``).
        higher_is_better: whether a larger ``monitor`` is better.
        carries_state: the state policy (see module doc).
        unit: what :meth:`count` counts, for the throughput column (``"tokens"``, ``"examples"``).
        loss_unit: optional, what the loss is averaged over when it is not one ``unit`` (speech counts
            utterances and averages per label); the axis of ``loss.png`` names it.
    """

    monitor: str
    higher_is_better: bool
    carries_state: bool
    unit: str

    def train_loss(self, net: torch.nn.Module, batch: Any, carry: Any) -> tuple[torch.Tensor, Any]:
        """The loss to minimise on this process's share of ``batch`` (scaled so that the average over
        processes is the loss of the global batch), and the carried state (or None)."""

    def evaluate(self, model: torch.nn.Module, batches: Any, limit: int | None = None) -> dict[str, float]:
        """Validation metrics over ``batches`` (at most ``limit`` of them), with ``"loss"`` and ``monitor``."""

    def count(self, batch: Any) -> int:
        """Items of ``unit`` in this process's share of ``batch``."""

    def carry_shapes(self) -> list[tuple[int, ...]] | None:
        """The shapes a checkpointed carried state must have (global batch), or None."""


def better(value: float, best: float | None, higher_is_better: bool) -> bool:
    """Whether ``value`` improves on ``best`` (None: nothing yet)."""
    if best is None:
        return True
    return value > best if higher_is_better else value < best


def to_device(batch, device: torch.device):
    """Move a batch (a tensor, a tuple of tensors, or an object with ``.to``) to ``device``."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch.to(device) if hasattr(batch, "to") else batch
