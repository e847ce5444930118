"""Labelled examples and their batches: variable-length sequences grouped by length, padding made invisible.

A data file of an example-based task (classification, tagging, …) is read into :class:`Example` objects
(:mod:`rnnkit.data.formats`); a task turns each into arrays; :class:`ExampleBatches` groups examples of
similar length into batches (bucketing), in an order drawn afresh every epoch from ``(seed, epoch)``, so a
resumed run that knows its epoch and batch index sees exactly the batches the uninterrupted run saw.

Bucketing: the shuffled examples are cut into pools of ``pool`` batches, each pool is sorted by length and
cut into batches, and the batches of the epoch are shuffled. Batches are mostly of one length (little
padding) while their order and content still change from epoch to epoch.

Data parallel: each global batch is split into ``world_size`` contiguous slices; process ``rank`` gets its
slice, and :attr:`Batch.global_size` tells how many examples the whole global batch has, so that the mean
loss over the global batch is exactly what one process would compute.

Example::

    batches = ExampleBatches(lengths, batch_size=32, collate=make_batch, shuffle=True, seed=1)
    for batch in batches.iter_from(0, epoch=0):
        logits = model(batch.inputs, batch.lengths)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnkit.errors import RnnkitError


@dataclass
class Example:
    """One example as read from a file.

    Attributes:
        sequence: the text (``str``), or the feature vectors ``x<1> … x<T>`` as a float array (T, F).
        label: the label's name, a tuple of names (multi-label), or None (unlabelled input to ``predict``).
        where: where it came from, for error messages (``"train.tsv:12"``).
    """

    sequence: str | np.ndarray
    label: str | tuple[str, ...] | None = None
    where: str = ""


@dataclass
class Batch:
    """A padded batch. ``inputs`` (B, T) ids or (B, T, F) features, ``lengths`` (B,) long, ``targets`` as the
    task makes them (``None`` when unlabelled), ``index`` (B,) the examples' positions in the data set, and
    ``global_size`` the number of examples in the global batch (over every process)."""

    inputs: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor | None
    index: torch.Tensor
    global_size: int = 0
    extra: dict = field(default_factory=dict)

    def to(self, device) -> Batch:
        move = lambda t: t.to(device) if isinstance(t, torch.Tensor) else t
        return Batch(move(self.inputs), self.lengths.to(device), move(self.targets), self.index, self.global_size,
                     {k: move(v) for k, v in self.extra.items()})

    def __len__(self) -> int:
        return int(self.lengths.shape[0])


def pad_sequences(seqs: Sequence[np.ndarray], pad_value=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D (ids) or 2-D (features) arrays of lengths T_b into (B, T_max[, F]), padded with ``pad_value``;
    returns ``(padded, lengths)``."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    T = int(lengths.max()) if len(seqs) else 0
    first = np.asarray(seqs[0])
    out = np.full((len(seqs), T, *first.shape[1:]), pad_value, dtype=first.dtype)
    for b, s in enumerate(seqs):
        out[b, : len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lengths)


class ExampleBatches:
    """Batches of examples grouped by length (see module doc).

    Args:
        lengths: (N,) length of every example (what bucketing sorts by).
        batch_size: ``B``, examples per global batch.
        collate: ``collate(indices) -> Batch`` for the examples at ``indices`` (a sorted-by-length list).
        shuffle: draw a new order every epoch (training); otherwise the examples in length order (evaluation:
            the least padding; :attr:`Batch.index` tells where each example belongs).
        seed: the order of epoch ``e`` depends only on ``(seed, e)``.
        pool: batches per sorting pool (1 = no bucketing; a large value = nearly sorted).
        rank, world_size: this process's share of every batch, for data-parallel training.
    """

    def __init__(self, lengths, batch_size: int, collate: Callable[[list[int]], Batch], *, shuffle: bool = False,
                 seed: int = 0, pool: int = 50, rank: int = 0, world_size: int = 1):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1 or len(self.lengths) == 0:
            raise RnnkitError("no examples to batch: the data is empty")
        if batch_size < 1:
            raise RnnkitError(f"batch size must be at least 1, got {batch_size}")
        if batch_size < world_size:
            raise RnnkitError(f"batch size {batch_size} is smaller than the {world_size} processes; "
                              f"use a batch size of at least {world_size}")
        self.batch_size, self.collate, self.shuffle = int(batch_size), collate, bool(shuffle)
        self.seed, self.pool, self.rank, self.world_size = int(seed), max(1, int(pool)), int(rank), int(world_size)
        n = len(self.lengths)
        # A last batch smaller than the number of processes would leave a process without examples: merge it.
        self._n_batches = max(1, n // self.batch_size + (1 if n % self.batch_size >= self.world_size else 0))

    def __len__(self) -> int:
        """Batches per epoch."""
        return self._n_batches

    @property
    def num_examples(self) -> int:
        return len(self.lengths)

    def order(self, epoch: int = 0) -> list[np.ndarray]:
        """The global batches of ``epoch``: arrays of example indices, each sorted by length."""
        n, B = len(self.lengths), self.batch_size
        if not self.shuffle:
            perm = np.argsort(self.lengths, kind="stable")
            return self._cut(perm)
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(n)
        span = B * self.pool
        pieces = [perm[i: i + span] for i in range(0, n, span)]
        perm = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pieces])
        batches = self._cut(perm)
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, perm: np.ndarray) -> list[np.ndarray]:
        B, k = self.batch_size, self._n_batches
        batches = [perm[i * B: (i + 1) * B] for i in range(k)]
        if k * B < len(perm):
            batches[-1] = np.concatenate([batches[-1], perm[k * B:]])
        return [b[np.argsort(self.lengths[b], kind="stable")] for b in batches]

    def _local(self, indices: np.ndarray) -> list[int]:
        if self.world_size == 1:
            return indices.tolist()
        return np.array_split(indices, self.world_size)[self.rank].tolist()

    def iter_from(self, start: int = 0, epoch: int = 0) -> Iterator[Batch]:
        """Batches ``start, start + 1, …`` of ``epoch`` (resume where a checkpoint stopped)."""
        batches = self.order(epoch)
        if not 0 <= start <= len(batches):
            raise RnnkitError(f"cannot resume at batch {start}: an epoch of this data has {len(batches)} "
                              "batches; the data or batch settings differ from the checkpoint's")
        for indices in batches[start:]:
            batch = self.collate(self._local(indices))
            batch.global_size = len(indices)
            yield batch

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)
