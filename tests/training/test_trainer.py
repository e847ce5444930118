import json

import numpy as np
import pytest
import torch

from rnnkit.data import StreamBatches
from rnnkit.losses import sequence_cross_entropy
from rnnkit.models import LanguageModel
from rnnkit.tasks import lm as lm_task
from rnnkit.tasks.lm import LMObjective
from rnnkit.training.config import TrainConfig
from rnnkit.training.trainer import Trainer


def StreamTrainer(model, train, valid, config, run_dir, **kw):
    return Trainer(model, train, valid, LMObjective(model, config.batch_size), config, run_dir, **kw)


def _setup(tmp_path, steps):
    torch.manual_seed(0)
    ids = np.random.default_rng(0).integers(0, 7, size=4 * 3 * 5 + 1).astype(np.uint16)
    batches = StreamBatches(ids, batch_size=4, seq_len=5)
    model = LanguageModel(7, 6, cell="gru")
    config = TrainConfig(steps=steps, batch_size=4, seq_len=5, optimizer="sgd", momentum=0.0, lr=1e-30,
                         warmup=0, schedule="constant", log_every=1, eval_every=100, save_every=100,
                         sample_length=0)
    return ids, batches, model, StreamTrainer(model, batches, None, config, tmp_path, quiet=True)


def test_state_is_carried_across_truncated_bptt_batches(tmp_path):
    ids, batches, model, trainer = _setup(tmp_path, steps=3)
    trainer.fit()
    logged = [r["loss"] for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
              if "loss" in r]
    # the weights barely move (lr 1e-30), so each logged loss is the model's loss on that batch given the
    # state that the previous batches of the same rows ended in: run each row as one long sequence
    L = batches.row_length
    rows = torch.stack([torch.from_numpy(ids[b * L: b * L + 15 + 1].astype(np.int64)) for b in range(4)])
    with torch.no_grad():
        logits, _ = model(rows[:, :-1])
        per_step = sequence_cross_entropy(logits, rows[:, 1:], reduction="none", batch_first=True)  # (T, B)
        expected = [per_step[5 * k: 5 * k + 5].mean().item() for k in range(3)]
        fresh = sequence_cross_entropy(model(rows[:, 5:10])[0], rows[:, 6:11], reduction="mean",
                                       batch_first=True).item()
    assert np.allclose(logged, expected, atol=1e-6)
    assert abs(logged[1] - fresh) > 1e-5  # a zero initial state would give a different loss


def test_carried_state_is_detached(tmp_path):
    _, _, _, trainer = _setup(tmp_path, steps=2)
    trainer.fit()
    assert trainer.carry is not None and all(not s.requires_grad for s in trainer.carry)


def test_state_resets_at_an_epoch_boundary(tmp_path):
    _, batches, _, trainer = _setup(tmp_path, steps=len(StreamBatches(np.zeros(61, np.uint16), 4, 5)) + 1)
    trainer.fit()
    assert trainer.epoch == 1 and trainer.batch_index == 1
    logged = [r["loss"] for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
              if "loss" in r]
    # The first batch of the second epoch is the first batch again (the weights barely move, lr 1e-30): from a
    # zero state it has the first batch's loss; the state carried over from the epoch's last batch would not.
    assert len(logged) == len(batches) + 1
    assert abs(logged[-1] - logged[0]) < 1e-6
    assert abs(logged[-1] - logged[-2]) > 1e-5


@pytest.mark.parametrize("steps, logits", [(1000, 1 << 24), (10, 1 << 24), (20, 300), (1, 1)])
def test_evaluation_in_spans_equals_batch_by_batch(tmp_path, monkeypatch, steps, logits):
    monkeypatch.setattr(lm_task, "EVAL_STEPS", steps)     # spans of 1, 2, several and all batches
    monkeypatch.setattr(lm_task, "EVAL_LOGITS", logits)
    torch.manual_seed(0)
    ids = np.random.default_rng(1).integers(0, 7, size=3 * 7 * 5 + 4).astype(np.uint16)
    valid = StreamBatches(ids, batch_size=3, seq_len=5)              # 7 batches
    model = LanguageModel(7, 6, num_layers=2)
    config = TrainConfig(steps=1, batch_size=3, seq_len=5, sample_length=0)
    trainer = StreamTrainer(model, valid, valid, config, tmp_path, quiet=True)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in valid:                                            # the state carried batch to batch
            logits_k, state = model(x, state)
            total += torch.nn.functional.cross_entropy(logits_k.reshape(-1, 7), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    assert count == 3 * 7 * 5
    assert abs(trainer.evaluate()["loss"] - total / count) < 1e-6


def test_loss_plot_keeps_the_curve_readable_after_a_large_first_loss():
    """A first loss 10× the rest must not flatten the curve: the y-axis ends near the later losses."""
    from rnnkit.training.metrics import loss_axis_limits

    train = [(1, 50.0)] + [(s, 2.0 - s / 100) for s in range(2, 100)]
    low, high = loss_axis_limits(train, [(50, 1.8)])
    assert low == 0.0 and 1.98 * 1.1 < high < 1.98 * 1.2
    assert loss_axis_limits([(s, 3.0 - s / 100) for s in range(1, 100)], []) is None     # no outlier: automatic


def test_weight_averaging_follows_its_formula_and_is_what_is_evaluated_and_kept(tmp_path):
    """--ema: w̄ ← d·w̄ + (1 − d)·w after each step, d = min(ema, (1 + step) / (10 + step)), computed here by
    hand from the raw weights after every step; evaluation and the best checkpoint use w̄, training w."""
    from safetensors.torch import load_file

    torch.manual_seed(0)
    ids = np.random.default_rng(0).integers(0, 7, size=4 * 3 * 5 + 1).astype(np.uint16)
    batches = StreamBatches(ids, batch_size=4, seq_len=5)
    model = LanguageModel(7, 6, cell="gru")
    config = TrainConfig(steps=4, batch_size=4, seq_len=5, optimizer="sgd", momentum=0.0, lr=0.5, warmup=0,
                         schedule="constant", log_every=1, eval_every=4, save_every=4, sample_length=0, ema=0.5)
    trainer = StreamTrainer(model, batches, batches, config, tmp_path, quiet=True)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    raw_after = []
    step = trainer._train_step

    def spy(batch, elapsed=None):
        out = step(batch, elapsed)
        raw_after.append({k: v.clone() for k, v in model.state_dict().items()})
        return out

    trainer._train_step = spy
    trainer.fit()
    for s, raw in enumerate(raw_after):
        d = min(0.5, (1 + s) / (10 + s))
        expected = {k: d * expected[k] + (1 - d) * raw[k] for k in expected}
    assert any(not torch.allclose(expected[k], raw_after[-1][k]) for k in expected)   # averaging did something
    best = load_file(tmp_path / "best" / "model.safetensors")
    assert all(torch.allclose(best[k], expected[k], atol=1e-6) for k in expected)
    latest = load_file(tmp_path / "model.safetensors")                                # training goes on from w
    assert all(torch.equal(latest[k], raw_after[-1][k]) for k in expected)
    assert all(torch.equal(v, raw_after[-1][k]) for k, v in model.state_dict().items())
    with torch.no_grad():
        probe = model.state_dict()
        model.load_state_dict(expected)
        want = trainer.objective.evaluate(model, batches)["loss"]
        model.load_state_dict(probe)
    logged = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "valid_loss" in r]
    assert logged[-1]["valid_loss"] == pytest.approx(want, rel=1e-6)
