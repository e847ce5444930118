"""The one trainer holds for tagging: a run killed with SIGKILL and continued with ``--resume`` logs exactly what
an uninterrupted run logs (losses and entity F1), and ends with the same weights; two torchrun processes train
what one process trains."""

from __future__ import annotations

import signal

import pytest
import torch.distributed as tdist

from tests.cli.test_tag_cli import _conll, _sentences
from tests.training.test_distributed import assert_two_processes_train_what_one_does
from tests.training.test_kill_resume import assert_killed_runs_resume_exactly

STEPS = 24
TRAIN = ["--hidden", "12", "--embedding", "6", "--char-embedding", "4", "--char-hidden", "3", "--batch-size", "8",
         "--steps", str(STEPS), "--save-every", "2", "--eval-every", "6", "--log-every", "1", "--dropout", "0.2",
         "--seed", "4", "--lr", "1e-2", "--quiet"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_tagging_killed_at_random_instants_resumes_exactly(tmp_path):
    train = _conll(tmp_path / "train.conll", _sentences(64, 0))
    valid = _conll(tmp_path / "valid.conll", _sentences(16, 1))
    got = assert_killed_runs_resume_exactly(tmp_path, "tag", ["--data", train, "--valid", valid], TRAIN, STEPS,
                                            seed=11, checkpoint_kills=False, ignore=("time", "sentences_per_s"))
    assert any("valid_f1" in r for r in got)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    train = _conll(tmp_path / "train.conll", _sentences(64, 0))
    valid = _conll(tmp_path / "valid.conll", _sentences(16, 1))
    args = ["tag", "train", "--data", train, "--valid", valid, *TRAIN, "--dropout", "0", "--unk-replace", "0",
            "--steps", "8"]
    assert_two_processes_train_what_one_does(tmp_path, args, "valid_f1")
