import argparse
import json

import pytest
import torch

from rnnkit.cli.diagnose_training import register
from rnnkit.diagnostics.memory import (
    NOISE,
    K,
    ReadLast,
    adding_batch,
    brackets_batch,
    copy_batch,
    make_batch,
    memory_experiment,
    open_memory,
    train_and_evaluate,
)
from rnnkit.errors import RnnkitError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _cli(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(list(argv))
    return args.handler(args)


# --- the data ------------------------------------------------------------------------------------------------------

def test_copy_target_is_the_symbol_at_step_one_followed_by_T_noise_symbols():
    batch = copy_batch(7, 50, _gen())
    assert batch.x.shape == (8, 50, K + NOISE) and batch.y.shape == (50,) and batch.T == 7
    ids = batch.x.argmax(2)
    assert torch.equal(batch.x.sum(2), torch.ones(8, 50))                       # one-hot
    assert torch.equal(ids[0], batch.y)
    assert bool((ids[1:] >= K).all()) and bool((ids[1:] < K + NOISE).all())    # noise only after step 1
    assert set(batch.y.tolist()) == set(range(K))


def test_adding_target_is_the_sum_of_the_two_marked_values_only():
    T, B = 12, 400
    batch = adding_batch(T, B, _gen())
    assert batch.x.shape == (T + 1, B, 2)
    v, marker = batch.x[..., 0], batch.x[..., 1]
    assert torch.equal(marker.sum(0), torch.full((B,), 2.0))                    # two markers per sequence
    assert bool((marker[0] == 1).all())                                        # the first at step 1
    second = marker[1:].argmax(0) + 1
    assert int(second.min()) == 1 and int(second.max()) == T                   # the second anywhere in 2 … T+1
    torch.testing.assert_close(batch.y, v[0] + v[second, torch.arange(B)])
    # changing every unmarked value leaves the target unchanged: y = Σ marker * v
    other = torch.where(marker.bool(), v, torch.rand(T + 1, B, generator=_gen(5)))
    torch.testing.assert_close((other * marker).sum(0), batch.y)


def test_brackets_filler_is_balanced_and_the_target_closes_the_first_bracket():
    for T in (1, 2, 9, 30):
        batch = brackets_batch(T, 200, _gen(T))
        assert batch.x.shape == (T + 1, 200, 2 * K + 1)
        ids = batch.x.argmax(2)
        assert torch.equal(ids[0], batch.y)
        for b in range(200):
            stack = []
            for i in ids[1:, b].tolist():
                if i < K:
                    stack.append(i)
                elif i < 2 * K:
                    assert stack and stack.pop() == i - K                       # well nested
            assert stack == []                                                  # balanced: only step 1 is open
    assert bool((brackets_batch(30, 200, _gen()).x.argmax(2)[1:] < 2 * K).any())   # the filler has brackets


def test_batches_follow_the_generator_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    for task in ("copy", "adding", "brackets"):
        a, b = make_batch(task, 6, 8, _gen(3)), make_batch(task, 6, 8, _gen(3))
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
        assert not torch.equal(a.x, make_batch(task, 6, 8, _gen(4)).x)
    train_and_evaluate("copy", "rnn", 3, steps=2, hidden=4, eval_size=8)
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="unknown task"):
        make_batch("sorting", 5, 2, _gen())


def test_open_memory_sets_the_gate_biases():
    lstm, gru, rnn = (ReadLast(c, 3, 4, 2).rnn for c in ("lstm", "gru", "rnn"))
    before = rnn.cells[0].b_a.clone()
    for layer in (lstm, gru, rnn):
        open_memory(layer, 3.0)
    assert torch.equal(lstm.cells[0].b_f, torch.full((4,), 3.0))
    assert torch.equal(gru.cells[0].b_u, torch.full((4,), -3.0))
    assert torch.equal(rnn.cells[0].b_a, before)


# --- the claim -----------------------------------------------------------------------------------------------------

def test_lstm_recalls_across_a_long_gap_where_a_vanilla_rnn_stays_at_chance():
    result = memory_experiment("copy", ["rnn", "lstm"], [5, 40], steps=400, hidden=32, seed=0)
    assert result.table["rnn"][5] > 0.95            # the RNN learns the task when the gap is short …
    assert result.table["rnn"][40] < 0.35           # … and stays at chance (0.25) when it is long
    assert result.table["lstm"][40] > 0.95
    assert result.longest_learned() == {"rnn": 5, "lstm": 40}


# --- the command ---------------------------------------------------------------------------------------------------

def test_cli_writes_the_table_and_the_picture(tmp_path, capsys):
    out = tmp_path / "new" / "dir"
    assert _cli("memory", "--cells", "rnn,gru", "--lengths", "4,2", "--steps", "5", "--hidden", "4",
                "--repeats", "2", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'memory.json'}" in printed and f"wrote {out / 'memory.png'}" in printed
    assert (out / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "memory.json").read_text())
    assert data["task"] == "copy" and data["lengths"] == [2, 4] and data["seeds"] == [0, 1]
    assert data["chance"] == 0.25 and data["steps"] == 5
    for cell in ("rnn", "gru"):
        for T in ("2", "4"):
            runs = data["accuracy_per_seed"][cell][T]
            assert len(runs) == 2 and all(0 <= a <= 1 for a in runs)
            assert data["accuracy"][cell][T] == pytest.approx(sum(runs) / 2)
            assert f"{data['accuracy'][cell][T]:.2f}" in printed


@pytest.mark.parametrize("flags, message", [
    (["--cells", "rnn,nope"], "unknown cell nope"),
    (["--cells", " , "], "names no cell"),
    (["--lengths", ""], "is empty"),
    (["--lengths", "5,x"], "positive integers"),
    (["--lengths", "5,0"], "at least 1"),
    (["--steps", "0"], "--steps 0: must be positive"),
    (["--hidden", "-3"], "--hidden -3: must be positive"),
    (["--lr", "0"], "--lr 0.0: must be positive"),
    (["--gate-bias", "-1"], "--gate-bias"),
])
def test_bad_flags_are_user_errors(tmp_path, flags, message):
    with pytest.raises(RnnkitError, match=message):
        _cli("memory", *flags, "--out", str(tmp_path))


def test_out_must_be_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RnnkitError, match="not a directory"):
        _cli("memory", "--steps", "1", "--out", str(tmp_path / "file"))
