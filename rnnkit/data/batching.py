"""Truncated-BPTT batches of one contiguous stream of token ids.

The stream of ``N`` ids is cut into ``B`` contiguous rows of length ``L = (N - 1) // B`` (the remainder
is dropped; the ``- 1`` leaves room for the last target). Batch ``k`` holds, for every row ``b``::

    x[b] = ids[b*L + k*T     : b*L + k*T + T]        # inputs  x<1..T>
    y[b] = ids[b*L + k*T + 1 : b*L + k*T + T + 1]    # targets y<t> = x<t+1>

so row ``b`` of batch ``k + 1`` continues row ``b`` of batch ``k`` exactly where it stopped. The trainer
therefore carries the final state ``a<T>`` (and ``c<T>``) of batch ``k`` over as the initial state of batch
``k + 1`` and detaches it, so gradients flow back at most ``T`` steps (truncated backpropagation through
time) while the state sees the whole row. An epoch has ``L // T`` batches; a last, shorter piece of each
row is dropped so that every batch has the same shape.

Data parallel: with ``world_size`` processes, the global batch of ``B`` rows is split into ``world_size``
contiguous groups; process ``rank`` gets rows ``rank*B/ws .. (rank+1)*B/ws`` of the same global batch, so
two processes with global batch ``B`` see exactly what one process with batch ``B`` sees.

Shapes: ``x``, ``y`` are ``torch.long`` tensors ``(B_local, T)``, batch first (``B_local = B / world_size``).

Example::

    batches = StreamBatches(ids, batch_size=32, seq_len=64)
    for k, (x, y) in enumerate(batches.iter_from(start), start):   # resume at batch `start`
        loss, state = step(x, y, detach(state))
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from rnnkit.errors import RnnkitError


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RnnkitError(f"{name}={value!r} is invalid; use a positive integer")
    return int(value)


class StreamBatches:
    """Batches ``(x, y)`` of shape ``(B_local, T)`` from a 1-D array of ids (see module doc).

    Args:
        ids: 1-D array or memmap of token ids, ``(N,)``; only the slices of a batch are read and converted.
        batch_size: ``B``, the global number of rows.
        seq_len: ``T``, time steps per batch (the truncation length of BPTT).
        rank, world_size: this process's share of every batch, for data-parallel training.
    """

    def __init__(self, ids, batch_size: int, seq_len: int, *, rank: int = 0, world_size: int = 1):
        self.batch_size = B = _positive_int("batch_size", batch_size)
        self.seq_len = T = _positive_int("seq_len", seq_len)
        world_size = _positive_int("world_size", world_size)
        if B % world_size:
            raise RnnkitError(f"batch size {B} does not split evenly over {world_size} processes; "
                              f"use a batch size that is a multiple of {world_size}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
            raise RnnkitError(f"rank={rank!r} is invalid for world_size={world_size}; use 0..{world_size - 1}")
        if getattr(ids, "ndim", None) != 1:
            raise RnnkitError(f"token ids must be a 1-D array, got shape {getattr(ids, 'shape', None)}")
        self.ids = ids
        N = len(ids)
        if N < B * T + 1:
            raise RnnkitError(f"the text has {N} tokens, too few for batch size {B} and sequence length {T}: "
                              f"one batch needs at least B*T + 1 = {B * T + 1} tokens; use a smaller batch "
                              "size or sequence length, or more text")
        self.rank, self.world_size = int(rank), world_size
        self.row_length = (N - 1) // B  # L
        self.local_batch_size = B // world_size
        self.rows = range(self.rank * self.local_batch_size, (self.rank + 1) * self.local_batch_size)

    def __len__(self) -> int:
        """Batches per epoch, ``L // T``."""
        return self.row_length // self.seq_len

    def batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``k`` (``0 <= k < len(self)``): inputs ``x`` and targets ``y``, each ``(B_local, T)`` long."""
        if not 0 <= k < len(self):
            raise IndexError(f"batch {k} is out of range for an epoch of {len(self)} batches")
        return self.span(k, k + 1)

    def span(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batches ``start … stop - 1`` joined along time, ``x`` and ``y`` each ``(B_local, (stop - start)·T)``:
        the same tokens in the same rows, in one piece (evaluation carries the state and truncates nothing,
        so it runs fewer, longer calls)."""
        if not 0 <= start < stop <= len(self):
            raise IndexError(f"batches {start}..{stop - 1} are out of range for an epoch of {len(self)} batches")
        L, T = self.row_length, self.seq_len
        chunk = np.stack([np.asarray(self.ids[b * L + start * T: b * L + stop * T + 1]) for b in self.rows])
        chunk = torch.from_numpy(chunk.astype(np.int64))  # (B_local, (stop - start)·T + 1)
        return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()

    def iter_from(self, start: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``start, start + 1, …`` to the end of the epoch: resume where a checkpoint stopped. Every
        epoch reads the stream in the same order (``epoch`` is accepted for the trainer's batch protocol)."""
        if not 0 <= start <= len(self):
            raise RnnkitError(f"cannot resume at batch {start}: an epoch of this data has {len(self)} "
                              "batches; the data or batch settings differ from the checkpoint's")
        for k in range(start, len(self)):
            yield self.batch(k)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)


def split(ids, valid_fraction: float):
    """``(train, valid)``: the first ``1 - f`` of ``ids`` and the last ``f`` (views, nothing copied).

    The validation part has ``round(N * f)`` ids; ``f = 0`` gives an empty one.
    """
    f = valid_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
        raise RnnkitError(f"validation fraction {f!r} is invalid; use a number in [0, 1), such as 0.1")
    n = len(ids)
    n_valid = round(n * f)
    if f > 0 and not 0 < n_valid < n:
        raise RnnkitError(f"validation fraction {f} of {n} tokens leaves an empty part; "
                          "use more text or give a separate validation file")
    return ids[: n - n_valid], ids[n - n_valid:]
