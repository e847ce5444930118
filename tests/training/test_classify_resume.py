"""The one trainer holds for classification as for the LM: a run killed with SIGKILL (mid-step, mid-checkpoint)
and continued with ``--resume`` logs exactly what an uninterrupted run logs, and two torchrun processes train
what one process trains with the same global batch."""

from __future__ import annotations

import json
import random
import signal
import subprocess

import numpy as np
import pytest
import torch.distributed as tdist
from safetensors.torch import load_file

from tests.training.test_distributed import _close, _run
from tests.training.test_distributed import _env as _dist_env
from tests.training.test_kill_resume import _check_every_file_loads, _env, _kill_when, _records, _rnnkit, _step_of

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


def _metrics(run):
    strip = ("time", "examples_per_s")
    return [{k: v for k, v in r.items() if k not in strip} for r in _records(run)]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_classification_killed_at_random_instants_resumes_exactly(tmp_path):
    train, valid = _data(tmp_path)
    env = _env(tmp_path)
    data = ["--data", train, "--valid", valid]
    reference, run = tmp_path / "reference", tmp_path / "run"
    uninterrupted = subprocess.Popen(_rnnkit("classify", "train", *data, "--out", reference, *TRAIN), env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    popen = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rng = random.Random(7)
    proc = subprocess.Popen(_rnnkit("classify", "train", *data, "--out", run, *TRAIN), **popen)
    logged = rng.randint(3, 8)
    _kill_when(proc, lambda: (run / "metrics.jsonl").exists() and len(_records(run)) >= logged,
               delay=rng.uniform(0.0, 0.2))                                 # mid-step
    _check_every_file_loads(run)
    for ready in (lambda: (run / ".staging").is_dir() and _step_of(run) >= 2,                       # staged
                  lambda: (run / ".commit").is_dir()):                                               # committing
        proc = subprocess.Popen(_rnnkit("classify", "train", "--resume", run), **popen)
        _kill_when(proc, ready)
        _check_every_file_loads(run)
    done = subprocess.run(_rnnkit("classify", "train", "--resume", run), env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read().decode()
    assert _step_of(run) == STEPS
    got, want = _metrics(run), _metrics(reference)
    assert [r["step"] for r in got if "loss" in r] == list(range(1, STEPS + 1))
    assert got == want                                   # the same losses and validation accuracies, exactly
    a, b = load_file(reference / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(bool((a[k] == b[k]).all()) for k in a)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    train, valid = _data(tmp_path)
    args = ["classify", "train", "--data", train, "--valid", valid, *TRAIN, "--dropout", "0", "--steps", "12"]
    single, multi = tmp_path / "single", tmp_path / "multi"
    done = _run([*args, "--out", single], _dist_env(tmp_path / "c1"))
    assert done.returncode == 0, done.stderr
    done = _run([*args, "--out", multi], _dist_env(tmp_path / "c2"), 2)
    assert done.returncode == 0, done.stderr
    pick = lambda run, key: [(r["step"], r[key]) for r in _records(run) if key in r]
    assert pick(multi, "loss") and _close(pick(multi, "loss"), pick(single, "loss"))
    assert pick(multi, "valid_accuracy") == pick(single, "valid_accuracy")
    a, b = load_file(single / "model.safetensors"), load_file(multi / "model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5
    assert json.loads((multi / "state.json").read_text())["world_size"] == 2
