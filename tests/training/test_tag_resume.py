"""The one trainer holds for tagging: a run killed with SIGKILL and continued with ``--resume`` logs exactly what
an uninterrupted run logs (losses and entity F1), and ends with the same weights; two torchrun processes train
what one process trains."""

from __future__ import annotations

import random
import signal
import subprocess

import pytest
import torch.distributed as tdist
from safetensors.torch import load_file

from tests.cli.test_tag_cli import _conll, _sentences
from tests.training.test_distributed import _close, _run
from tests.training.test_distributed import _env as _dist_env
from tests.training.test_kill_resume import _check_every_file_loads, _env, _kill_when, _records, _rnnkit, _step_of

STEPS = 24
TRAIN = ["--hidden", "12", "--embedding", "6", "--char-embedding", "4", "--char-hidden", "3", "--batch-size", "8",
         "--steps", str(STEPS), "--save-every", "2", "--eval-every", "6", "--log-every", "1", "--dropout", "0.2",
         "--seed", "4", "--lr", "1e-2", "--quiet"]


def _metrics(run):
    return [{k: v for k, v in r.items() if k not in ("time", "sentences_per_s")} for r in _records(run)]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_tagging_killed_at_random_instants_resumes_exactly(tmp_path):
    train = _conll(tmp_path / "train.conll", _sentences(64, 0))
    valid = _conll(tmp_path / "valid.conll", _sentences(16, 1))
    env = _env(tmp_path)
    data = ["--data", train, "--valid", valid]
    reference, run = tmp_path / "reference", tmp_path / "run"
    popen = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uninterrupted = subprocess.Popen(_rnnkit("tag", "train", *data, "--out", reference, *TRAIN), **popen)
    rng = random.Random(11)
    proc = subprocess.Popen(_rnnkit("tag", "train", *data, "--out", run, *TRAIN), **popen)
    logged = rng.randint(3, 8)
    _kill_when(proc, lambda: (run / "metrics.jsonl").exists() and len(_records(run)) >= logged,
               delay=rng.uniform(0.0, 0.2))
    _check_every_file_loads(run)
    for ready in (lambda: (run / ".staging").is_dir() and _step_of(run) >= 2, lambda: (run / ".commit").is_dir()):
        proc = subprocess.Popen(_rnnkit("tag", "train", "--resume", run), **popen)
        _kill_when(proc, ready)
        _check_every_file_loads(run)
    done = subprocess.run(_rnnkit("tag", "train", "--resume", run), env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read().decode()
    assert _step_of(run) == STEPS
    got, want = _metrics(run), _metrics(reference)
    assert [r["step"] for r in got if "loss" in r] == list(range(1, STEPS + 1))
    assert any("valid_f1" in r for r in got) and got == want
    a, b = load_file(reference / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(bool((a[k] == b[k]).all()) for k in a)


@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_equal_one(tmp_path):
    train = _conll(tmp_path / "train.conll", _sentences(64, 0))
    valid = _conll(tmp_path / "valid.conll", _sentences(16, 1))
    args = ["tag", "train", "--data", train, "--valid", valid, *TRAIN, "--dropout", "0", "--unk-replace", "0",
            "--steps", "8"]
    single, multi = tmp_path / "single", tmp_path / "multi"
    done = _run([*args, "--out", single], _dist_env(tmp_path / "c1"))
    assert done.returncode == 0, done.stderr
    done = _run([*args, "--out", multi], _dist_env(tmp_path / "c2"), 2)
    assert done.returncode == 0, done.stderr
    pick = lambda run, key: [(r["step"], r[key]) for r in _records(run) if key in r]
    assert pick(multi, "loss") and _close(pick(multi, "loss"), pick(single, "loss"))
    assert _close(pick(multi, "valid_f1"), pick(single, "valid_f1"))
    a, b = load_file(single / "model.safetensors"), load_file(multi / "model.safetensors")
    assert max(float((a[k].double() - b[k].double()).abs().max()) for k in a) <= 1e-5
