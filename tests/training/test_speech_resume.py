"""The one trainer holds for speech: a run killed with SIGKILL and continued with ``--resume`` logs exactly what an
uninterrupted run logs (augmentation and validation WER included) and ends with the same weights; two torchrun
processes train what one process trains, augmentation included."""

from __future__ import annotations

import signal

import pytest
import torch.distributed as tdist

pytest.importorskip("soundfile")
pytest.importorskip("jiwer")

from tests.cli.test_speech_cli import TEXTS, _manifest  # noqa: E402
from tests.training.test_distributed import assert_two_processes_train_what_one_does  # noqa: E402
from tests.training.test_kill_resume import assert_killed_runs_resume_exactly  # noqa: E402

STEPS = 16
TRAIN = ["--hidden", "8", "--layers", "1", "--batch-size", "4", "--steps", str(STEPS), "--save-every", "2",
         "--eval-every", "4", "--log-every", "1", "--dropout", "0.2", "--seed", "5", "--quiet"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_speech_killed_at_random_instants_resumes_exactly(tmp_path):
    train, valid = _manifest(tmp_path / "d", "train", TEXTS * 2), _manifest(tmp_path / "d", "valid", TEXTS[:4], 100)
    got = assert_killed_runs_resume_exactly(tmp_path, "speech", ["--data", train, "--valid", valid], TRAIN, STEPS,
                                            seed=8, checkpoint_kills=False, ignore=("time", "utterances_per_s"))
    assert any("valid_wer" in r for r in got)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one_with_augmentation(tmp_path):
    train, valid = _manifest(tmp_path / "d", "train", TEXTS * 2), _manifest(tmp_path / "d", "valid", TEXTS[:4], 100)
    args = ["speech", "train", "--data", train, "--valid", valid, *TRAIN, "--dropout", "0", "--steps", "6"]
    assert_two_processes_train_what_one_does(tmp_path, args, "valid_loss")
