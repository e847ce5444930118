"""TensorBoard event files beside ``metrics.jsonl`` (``--tensorboard DIR``; the optional extra
``pip install 'rnnkit[tensorboard]'``).

``metrics.jsonl`` stays the record; the event files show the same numbers in TensorBoard. Every record the
trainer logs becomes scalars at its step: ``train/loss``, ``train/lr``, ``train/grad_norm`` (before
clipping) and the throughput (``train/tokens_per_s`` …) at each logged step, ``valid/<metric>`` for every
validation metric at each evaluation; text such as a language model's sample is a text summary.

A resumed run writes a new event file into the same ``DIR`` with ``purge_step`` one past the step it goes on
from: TensorBoard then drops what the interrupted run logged after its checkpoint, as ``metrics.jsonl`` is
truncated, so no step shows twice.
"""

from __future__ import annotations

import math
from pathlib import Path

from rnnkit.errors import RnnkitError

INSTALL = "pip install 'rnnkit[tensorboard]'"
_NOT_SCALARS = ("step", "epoch", "time")


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or a :class:`RnnkitError` when ``tensorboard`` is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RnnkitError(f"--tensorboard needs the tensorboard package, which is not installed: {INSTALL}") from None
    return SummaryWriter


def tag(key: str) -> str:
    """A record's key as a TensorBoard tag: ``valid_accuracy`` → ``valid/accuracy``, ``loss`` → ``train/loss``."""
    return "valid/" + key.removeprefix("valid_") if key.startswith("valid_") else "train/" + key


class TensorBoardLog:
    """Write the trainer's records to event files in ``log_dir``; resumed from ``step``, purge what came after.

    Example::

        log = TensorBoardLog("tb/run1", step=0)
        log.record({"step": 10, "loss": 2.3, "lr": 1e-3})      # train/loss, train/lr at step 10
        log.close()
    """

    def __init__(self, log_dir: str | Path, step: int = 0):
        writer = summary_writer_class()
        try:
            self.writer = writer(log_dir=str(log_dir), purge_step=step + 1)
        except OSError as e:
            raise RnnkitError(f"{log_dir}: cannot write TensorBoard files there ({e.strerror or e})") from None

    def record(self, record: dict) -> None:
        """Every number of a ``metrics.jsonl`` record (but its step, epoch and time) as a scalar at its step."""
        for key, value in record.items():
            if key not in _NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag(key), value, record["step"])

    def text(self, name: str, text: str, step: int) -> None:
        """``text`` as a text summary, indented so TensorBoard's Markdown keeps its lines as they are."""
        if text:
            self.writer.add_text(name, "\n".join("    " + line for line in text.splitlines()), step)

    def scalar(self, name: str, value: float | None, step: int) -> None:
        if value is not None and not math.isnan(value):
            self.writer.add_scalar(name, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
