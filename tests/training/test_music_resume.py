"""The one trainer holds for music: a run killed with SIGKILL and continued with ``--resume`` logs exactly what
an uninterrupted run logs and ends with the same weights (transposition draws and averaged weights included);
two torchrun processes train what one process trains."""

from __future__ import annotations

import json
import signal

import pytest
import torch.distributed as tdist
from safetensors.torch import load_file

from tests.cli.test_music_cli import _pieces
from tests.training.test_distributed import _close, _run
from tests.training.test_distributed import _env as _dist_env
from tests.training.test_kill_resume import _records, assert_killed_runs_resume_exactly

STEPS = 24
TRAIN = ["--hidden", "12", "--batch-size", "4", "--steps", str(STEPS), "--save-every", "2", "--eval-every", "6",
         "--log-every", "1", "--dropout", "0.2", "--input-dropout", "0.1", "--transpose", "2", "--ema", "0.9",
         "--seed", "4", "--lr", "1e-2", "--quiet"]


def _data(tmp_path):
    path = tmp_path / "chords.json"
    path.write_text(json.dumps({"train": _pieces(32, 0), "valid": _pieces(8, 1), "test": _pieces(8, 2)}))
    return path


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_music_killed_at_random_instants_resumes_exactly(tmp_path):
    got = assert_killed_runs_resume_exactly(tmp_path, "music", ["--data", _data(tmp_path)], TRAIN, STEPS, seed=5,
                                            ignore=("time", "frames_per_s"))
    assert any("valid_nll_per_frame" in r for r in got)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    args = ["music", "train", "--data", _data(tmp_path), *TRAIN, "--dropout", "0", "--input-dropout", "0",
            "--transpose", "0", "--steps", "8"]
    single, multi = tmp_path / "single", tmp_path / "multi"
    done = _run([*args, "--out", single], _dist_env(tmp_path / "c1"))
    assert done.returncode == 0, done.stderr
    done = _run([*args, "--out", multi], _dist_env(tmp_path / "c2"), 2)
    assert done.returncode == 0, done.stderr
    pick = lambda run, key: [(r["step"], r[key]) for r in _records(run) if key in r]
    assert pick(multi, "loss") and _close(pick(multi, "loss"), pick(single, "loss"))
    assert _close(pick(multi, "valid_nll_per_frame"), pick(single, "valid_nll_per_frame"))
    a, b = load_file(single / "model.safetensors"), load_file(multi / "model.safetensors")
    assert max(float((a[k].double() - b[k].double()).abs().max()) for k in a) <= 1e-5
