"""The one trainer holds for classification as for the LM: a run killed with SIGKILL (mid-step, mid-checkpoint)
and continued with ``--resume`` logs exactly what an uninterrupted run logs, and two torchrun processes train
what one process trains with the same global batch."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import torch.distributed as tdist

from tests.training.test_distributed import assert_two_processes_train_what_one_does
from tests.training.test_kill_resume import assert_killed_runs_resume_exactly

STEPS = 24
TRAIN = ["--hidden", "12", "--embedding", "6", "--batch-size", "8", "--steps", str(STEPS), "--save-every", "2",
         "--eval-every", "6", "--log-every", "1", "--dropout", "0.1", "--seed", "4", "--lr", "1e-2", "--quiet",
         "--level", "char"]


def _data(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(80):
        seq = "".join(rng.choice(list("acgt"), size=int(rng.integers(4, 20))))
        rows.append(f"{seq}\t{'has_gg' if 'gg' in seq else 'no_gg'}\n")
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    train.write_text("text\tlabel\n" + "".join(rows[:64]), encoding="utf-8")
    valid.write_text("text\tlabel\n" + "".join(rows[64:]), encoding="utf-8")
    return train, valid


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_classification_killed_at_random_instants_resumes_exactly(tmp_path):
    train, valid = _data(tmp_path)
    assert_killed_runs_resume_exactly(tmp_path, "classify", ["--data", train, "--valid", valid], TRAIN, STEPS,
                                      seed=7, checkpoint_kills=False, ignore=("time", "examples_per_s"))


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    train, valid = _data(tmp_path)
    args = ["classify", "train", "--data", train, "--valid", valid, *TRAIN, "--dropout", "0", "--steps", "12"]
    single, multi = assert_two_processes_train_what_one_does(tmp_path, args, "valid_accuracy")
    assert json.loads((multi / "state.json").read_text())["world_size"] == 2
