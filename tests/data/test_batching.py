"""Tests for rnnkit.data.batching."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.batching import StreamBatches, split
from rnnkit.errors import RnnkitError


def test_small_example_by_hand():
    ids = np.arange(11)  # N = 11, B = 2 -> L = 5; T = 2 -> 2 batches, position 4 of each row dropped
    b = StreamBatches(ids, batch_size=2, seq_len=2)
    assert len(b) == 2
    x, y = b.batch(0)
    assert x.tolist() == [[0, 1], [5, 6]] and y.tolist() == [[1, 2], [6, 7]]
    x, y = b.batch(1)
    assert x.tolist() == [[2, 3], [7, 8]] and y.tolist() == [[3, 4], [8, 9]]
    assert x.dtype == y.dtype == torch.long and x.shape == (2, 2)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(N=st.integers(2, 400), B=st.integers(1, 8), T=st.integers(1, 12))
def test_rows_of_consecutive_batches_are_the_contiguous_streams(N, B, T):
    if N < B * T + 1:
        with pytest.raises(RnnkitError, match=f"at least B\\*T \\+ 1 = {B * T + 1} tokens"):
            StreamBatches(np.arange(N), B, T)
        return
    ids = np.arange(N) * 3 + 1  # values that identify their position
    batches = StreamBatches(ids, B, T)
    L = (N - 1) // B
    assert len(batches) == L // T
    xs, ys = zip(*batches)
    x_all, y_all = torch.cat(xs, dim=1).numpy(), torch.cat(ys, dim=1).numpy()
    for b in range(B):
        assert (x_all[b] == ids[b * L: b * L + len(batches) * T]).all()
    assert (y_all == x_all + 3).all()  # y is x shifted by one position


@settings(max_examples=50, derandomize=True, deadline=None)
@given(N=st.integers(10, 400), B=st.integers(1, 6), T=st.integers(1, 7), data=st.data())
def test_a_span_is_its_batches_joined_along_time(N, B, T, data):
    if N < B * T + 1:
        return
    batches = StreamBatches(np.arange(N) * 5 + 2, B, T)
    start = data.draw(st.integers(0, len(batches) - 1))
    stop = data.draw(st.integers(start + 1, len(batches)))
    x, y = batches.span(start, stop)
    parts = [batches.batch(k) for k in range(start, stop)]
    assert torch.equal(x, torch.cat([p[0] for p in parts], dim=1))
    assert torch.equal(y, torch.cat([p[1] for p in parts], dim=1))
    with pytest.raises(IndexError):
        batches.span(start, len(batches) + 1)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(N=st.integers(20, 300), B=st.sampled_from([2, 4, 6, 12]), T=st.integers(1, 5),
       world_size=st.sampled_from([1, 2, 3, 4, 6]))
def test_sharded_batches_concatenate_to_the_global_batch(N, B, T, world_size):
    if B % world_size or N < B * T + 1:
        return
    ids = np.arange(N, dtype=np.uint16)
    whole = StreamBatches(ids, B, T)
    shards = [StreamBatches(ids, B, T, rank=r, world_size=world_size) for r in range(world_size)]
    assert all(len(s) == len(whole) for s in shards)
    for k in range(len(whole)):
        x, y = whole.batch(k)
        parts = [s.batch(k) for s in shards]
        assert all(p[0].shape == (B // world_size, T) for p in parts)
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)


def test_iter_from_resumes_exactly():
    batches = StreamBatches(np.arange(1000), 4, 7)
    all_batches = list(batches)
    resumed = list(batches.iter_from(5))
    assert len(resumed) == len(all_batches) - 5
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(all_batches[5:], resumed))
    assert list(batches.iter_from(len(batches))) == []
    with pytest.raises(RnnkitError, match="resume"):
        list(batches.iter_from(len(batches) + 1))
    with pytest.raises(IndexError):
        batches.batch(len(batches))


def test_memmap_input_converts_only_the_batch(tmp_path):
    path = tmp_path / "ids.uint16"
    np.arange(60_000, dtype=np.uint16).tofile(path)
    ids = np.memmap(path, dtype=np.uint16, mode="r")
    x, y = StreamBatches(ids, 3, 4).batch(2)
    L = 59_999 // 3
    assert x.tolist() == [[b * L + 8 + t for t in range(4)] for b in range(3)]
    assert y.dtype == torch.long and int(y.max()) == 2 * L + 12


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0, seq_len=2), "batch_size=0"),
    (dict(batch_size=3, seq_len=2, world_size=2), "multiple of 2"),
    (dict(batch_size=4, seq_len=2, rank=2, world_size=2), "rank=2"),
])
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(RnnkitError, match=match):
        StreamBatches(np.arange(100), **kwargs)


def test_split_takes_validation_from_the_end():
    ids = np.arange(100)
    train, valid = split(ids, 0.1)
    assert train.tolist() == list(range(90)) and valid.tolist() == list(range(90, 100))
    train, valid = split(ids, 0)
    assert len(train) == 100 and len(valid) == 0
    with pytest.raises(RnnkitError, match="fraction 1.5"):
        split(ids, 1.5)
    with pytest.raises(RnnkitError, match="empty"):
        split(np.arange(3), 0.01)
