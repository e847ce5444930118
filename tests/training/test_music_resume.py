"""The one trainer holds for music: a run killed with SIGKILL and continued with ``--resume`` logs exactly what
an uninterrupted run logs and ends with the same weights (transposition draws and averaged weights included);
two torchrun processes train what one process trains."""

from __future__ import annotations

import json
import signal

import pytest
import torch.distributed as tdist

from tests.cli.test_music_cli import _pieces
from tests.training.test_distributed import assert_two_processes_train_what_one_does
from tests.training.test_kill_resume import assert_killed_runs_resume_exactly

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
                                            checkpoint_kills=False, ignore=("time", "frames_per_s"))
    assert any("valid_nll_per_frame" in r for r in got)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    args = ["music", "train", "--data", _data(tmp_path), *TRAIN, "--dropout", "0", "--input-dropout", "0",
            "--transpose", "0", "--steps", "8"]
    assert_two_processes_train_what_one_does(tmp_path, args, "valid_nll_per_frame")
