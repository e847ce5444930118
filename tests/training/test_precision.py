"""``--precision bf16`` (rnnkit/training/precision.py): bfloat16 autocast in the training step, float32 everywhere
it persists (weights, optimizer state, carried state, checkpoints), recorded in the run so ``--resume`` keeps it,
and a clear error where the hardware has no bfloat16."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

import rnnkit
from rnnkit.cli.main import main
from rnnkit.training import precision, trainer
from tests.cli.conftest import CORPUS
from tests.training.test_classify_resume import _data as classify_data

needs_bf16 = pytest.mark.skipif(not precision.cpu_has_bf16(),
                                reason=f"this CPU ({precision.cpu_model()}) has no bfloat16 instructions")
# Hidden 160 at batch 4: the LSTM stack runs on torch's kernel, which autocast runs in bfloat16. A constant
# schedule: a run stopped and resumed to more steps keeps the learning rates of one run of that many steps.
LM = ["--hidden", "160", "--layers", "2", "--embedding", "16", "--batch-size", "4", "--seq-len", "16",
      "--eval-every", "3", "--eval-batches", "2", "--save-every", "3", "--log-every", "1", "--seed", "3",
      "--schedule", "constant", "--quiet", "--sample-length", "0"]


def _train(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _losses(run) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def _assert_float32_checkpoints(run) -> None:
    for name in ("model.safetensors", "optimizer.safetensors", "best/model.safetensors"):
        tensors = load_file(run / name)
        floats = {k: v.dtype for k, v in tensors.items() if v.is_floating_point()}
        assert floats and set(floats.values()) == {torch.float32}, (name, floats)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


@needs_bf16
def test_lm_trains_in_bf16_close_to_fp32_with_float32_checkpoints_and_resume_keeps_it(tmp_path, corpus, capsys,
                                                                                     monkeypatch):
    common = ["lm", "train", "--data", corpus, "--cache-dir", tmp_path / "cache", *LM]
    fp32, bf16 = tmp_path / "fp32", tmp_path / "bf16"
    assert _train(capsys, *common, "--steps", 6, "--out", fp32)[0] == 0
    used = []
    autocast = trainer.autocast
    monkeypatch.setattr(trainer, "autocast", lambda p, device: used.append(p) or autocast(p, device))
    assert _train(capsys, *common, "--steps", 3, "--out", bf16, "--precision", "bf16")[0] == 0
    assert json.loads((bf16 / "config.json").read_text())["train"]["precision"] == "bf16"
    assert json.loads((fp32 / "config.json").read_text())["train"]["precision"] == "fp32"     # the default
    _assert_float32_checkpoints(bf16)                                    # the carried state included
    assert any(k.startswith("carry.") for k in load_file(bf16 / "optimizer.safetensors"))

    used.clear()
    code, err = _train(capsys, "lm", "train", "--resume", bf16, "--steps", 6)
    assert code == 0, err
    assert used == ["bf16"] * 3                                          # the resumed steps ran in bf16 too
    _assert_float32_checkpoints(bf16)
    a, b = _losses(fp32), _losses(bf16)
    assert len(a) == len(b) == 6 and all(math.isfinite(x) for x in b)
    assert max(abs(x - y) for x, y in zip(a, b)) < 0.02                  # bfloat16 rounding, not another run
    assert a != b                                                        # and bfloat16 did run


@needs_bf16
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_classification_trains_in_bf16_with_float32_checkpoints(tmp_path, capsys, cell):
    train, valid = classify_data(tmp_path)
    common = ["classify", "train", "--data", train, "--valid", valid, "--cell", cell, "--hidden", "24",
              "--embedding", "6", "--batch-size", "8", "--steps", "6", "--eval-every", "3", "--save-every", "3",
              "--log-every", "1", "--seed", "4", "--lr", "1e-2", "--quiet", "--level", "char", "--bidirectional"]
    runs = {p: tmp_path / p for p in ("fp32", "bf16")}
    for p, run in runs.items():
        code, err = _train(capsys, *common, "--out", run, "--precision", p)
        assert code == 0, err
    _assert_float32_checkpoints(runs["bf16"])
    a, b = _losses(runs["fp32"]), _losses(runs["bf16"])
    assert all(math.isfinite(x) for x in b) and max(abs(x - y) for x, y in zip(a, b)) < 0.02


def test_bf16_is_refused_where_the_cpu_lacks_it(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    run = tmp_path / "run"
    code, err = _train(capsys, "lm", "train", "--data", corpus, "--out", run, *LM, "--steps", 2,
                       "--precision", "bf16", "--device", "cpu")
    assert code == 2
    assert "no bfloat16 instructions" in err and "--precision fp32" in err and len(err.strip().splitlines()) == 1
    assert not run.exists()                                              # refused before anything was written


def test_an_unknown_precision_is_a_usage_error(tmp_path, corpus, capsys):
    with pytest.raises(SystemExit) as e:
        main(["lm", "train", "--data", str(corpus), "--precision", "fp16"])
    assert e.value.code == 2 and "fp16" in capsys.readouterr().err


@pytest.mark.parametrize("make", [rnnkit.GRU, rnnkit.RNN, rnnkit.SimpleGRU, rnnkit.LSTM])
def test_rnnkit_engine_runs_float32_under_autocast(make):
    """The fused engine (compiled float32 loops, hand-written BPTT) is left out of autocast: the same outputs,
    final state and gradients as without it, all float32."""
    torch.manual_seed(0)
    layer = make(5, 8, num_layers=2, bidirectional=True)
    x, lengths = torch.randn(7, 3, 5), torch.tensor([7, 4, 2])
    grads = []
    for enabled in (False, True):
        layer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            y, state = layer(x, lengths=lengths)
        assert y.dtype == torch.float32 and all(s.dtype == torch.float32 for s in state)
        (y.sum() + sum(s.sum() for s in state)).backward()
        grads.append((y.detach(), [p.grad.clone() for p in layer.parameters()]))
    (y0, g0), (y1, g1) = grads
    torch.testing.assert_close(y1, y0, rtol=0, atol=0)
    for p0, p1 in zip(g0, g1):
        torch.testing.assert_close(p1, p0, rtol=0, atol=0)
