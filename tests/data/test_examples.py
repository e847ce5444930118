"""Example batches: every example once per epoch, an order fixed by (seed, epoch), little padding, exact shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.examples import Batch, ExampleBatches, pad_sequences
from rnnkit.errors import RnnkitError

LENGTHS = np.random.default_rng(0).integers(1, 60, size=203)


def _collate(indices):
    seqs = [np.full(LENGTHS[i], i, dtype=np.int64) for i in indices]
    inputs, lengths = pad_sequences(seqs)
    return Batch(inputs, lengths, None, torch.tensor(indices))


def _batches(**kw):
    return ExampleBatches(LENGTHS, 16, _collate, **kw)


def test_every_example_exactly_once_per_epoch():
    for shuffle in (False, True):
        seen = np.concatenate([b.index.numpy() for b in _batches(shuffle=shuffle, seed=3).iter_from(0, epoch=2)])
        assert sorted(seen.tolist()) == list(range(len(LENGTHS)))


def test_order_depends_only_on_seed_and_epoch():
    a = [b.tolist() for b in _batches(shuffle=True, seed=1).order(epoch=4)]
    assert a == [b.tolist() for b in _batches(shuffle=True, seed=1).order(epoch=4)]
    assert a != [b.tolist() for b in _batches(shuffle=True, seed=1).order(epoch=5)]
    assert a != [b.tolist() for b in _batches(shuffle=True, seed=2).order(epoch=4)]


def test_resuming_mid_epoch_gives_the_rest_of_the_same_epoch():
    batches = _batches(shuffle=True, seed=9)
    whole = [b.index.tolist() for b in batches.iter_from(0, epoch=1)]
    assert [b.index.tolist() for b in batches.iter_from(5, epoch=1)] == whole[5:]


def test_bucketing_pads_far_less_than_a_random_order():
    def padding(batches):
        return sum(int(b.lengths.max()) * len(b) - int(b.lengths.sum()) for b in batches.iter_from(0))
    bucketed = padding(_batches(shuffle=True, seed=0))
    unbucketed = padding(_batches(shuffle=True, seed=0, pool=1))
    assert bucketed < 0.3 * unbucketed


def test_padding_and_lengths():
    inputs, lengths = pad_sequences([np.array([1, 2, 3]), np.array([4])], pad_value=0)
    assert inputs.tolist() == [[1, 2, 3], [4, 0, 0]] and lengths.tolist() == [3, 1]
    feats, _ = pad_sequences([np.ones((2, 3), np.float32), np.ones((1, 3), np.float32)])
    assert feats.shape == (2, 2, 3) and float(feats[1, 1].abs().sum()) == 0


@pytest.mark.parametrize("world", [2, 3])
def test_process_shares_make_up_the_global_batch(world):
    single = [b.index.tolist() for b in _batches(shuffle=True, seed=4).iter_from(0, epoch=0)]
    shares = [list(ExampleBatches(LENGTHS, 16, _collate, shuffle=True, seed=4, rank=r, world_size=world)
                   .iter_from(0, epoch=0)) for r in range(world)]
    for k, indices in enumerate(single):
        parts = [shares[r][k] for r in range(world)]
        assert sum((p.index.tolist() for p in parts), []) == indices
        assert all(p.global_size == len(indices) and len(p) >= 1 for p in parts)


def test_a_last_batch_smaller_than_the_processes_is_merged():
    batches = ExampleBatches(np.ones(33), 16, _collate, world_size=2)   # 16 + 16 + 1: the 1 joins the last
    sizes = [len(b) for b in batches.order()]
    assert sizes == [16, 17] and len(batches) == 2


def test_bad_settings_are_clear_errors():
    with pytest.raises(RnnkitError, match="empty"):
        ExampleBatches([], 4, _collate)
    with pytest.raises(RnnkitError, match="smaller than the 4 processes"):
        ExampleBatches(LENGTHS, 2, _collate, world_size=4)
    with pytest.raises(RnnkitError, match="cannot resume at batch"):
        next(_batches().iter_from(10_000))
