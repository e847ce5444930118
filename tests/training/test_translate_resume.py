"""The one trainer holds for translation: a run killed with SIGKILL and continued with ``--resume`` logs exactly
what an uninterrupted run logs (validation BLEU included) and ends with the same weights; two torchrun
processes train what one process trains."""

from __future__ import annotations

import signal

import pytest
import torch.distributed as tdist

from tests.cli.test_translate_cli import _pairs, _tsv
from tests.training.test_distributed import assert_two_processes_train_what_one_does
from tests.training.test_kill_resume import assert_killed_runs_resume_exactly

STEPS = 24
TRAIN = ["--hidden", "16", "--embedding", "8", "--batch-size", "8", "--steps", str(STEPS), "--save-every", "2",
         "--eval-every", "6", "--log-every", "1", "--dropout", "0.2", "--seed", "4", "--lr", "1e-2", "--quiet",
         "--level", "subword", "--vocab-size", "30", "--scheduled-sampling", "0.2"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_translate_killed_at_random_instants_resumes_exactly(tmp_path):
    train, valid = _tsv(tmp_path / "train.tsv", _pairs(64, 0)), _tsv(tmp_path / "valid.tsv", _pairs(16, 1))
    got = assert_killed_runs_resume_exactly(tmp_path, "translate", ["--data", train, "--valid", valid], TRAIN,
                                            STEPS, seed=6, checkpoint_kills=False, ignore=("time", "sentences_per_s"))
    assert any("valid_bleu" in r for r in got)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    train, valid = _tsv(tmp_path / "train.tsv", _pairs(64, 0)), _tsv(tmp_path / "valid.tsv", _pairs(16, 1))
    args = ["translate", "train", "--data", train, "--valid", valid, *TRAIN, "--dropout", "0",
            "--scheduled-sampling", "0", "--steps", "8"]
    assert_two_processes_train_what_one_does(tmp_path, args, "valid_loss")
