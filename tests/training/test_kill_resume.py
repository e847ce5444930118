"""Kills lose nothing: ``rnnkit lm train`` killed with SIGKILL at random instants, mid-step and mid-checkpoint,
then continued with ``--resume RUN``, logs exactly the losses of a run that was never stopped.

Real processes, real kills. ``RNNKIT_TEST_CHECKPOINT_PAUSE`` holds every checkpoint write for a moment at its
riskiest instants (files staged but not committed; committed but only partly moved into place), so that the
kills aimed there land there; the instants themselves come from a fixed-seed random generator.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.cli.conftest import CORPUS

ROOT = Path(__file__).resolve().parents[2]
STEPS = 24
TRAIN = ["--hidden", "12", "--layers", "1", "--embedding", "6", "--batch-size", "4", "--seq-len", "12",
         "--steps", str(STEPS), "--save-every", "2", "--eval-every", "8", "--eval-batches", "2", "--log-every", "1",
         "--dropout", "0.1", "--seed", "11", "--lr", "1e-2", "--quiet", "--sample-length", "0"]
PAUSE = 0.2


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", RNNKIT_CACHE=str(tmp_path / "cache"),
               RNNKIT_TEST_CHECKPOINT_PAUSE=str(PAUSE), PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    return env


def _rnnkit(*argv) -> list[str]:
    return [sys.executable, "-m", "rnnkit", *map(str, argv)]


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _losses(run: Path) -> tuple[list, list]:
    records = _records(run)
    return ([(r["step"], r["loss"]) for r in records if "loss" in r],
            [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r])


def _check_every_file_loads(run: Path) -> None:
    """Each file of the run directory, as a kill left it, parses on its own."""
    for name in ("config.json", "vocab.json", "state.json"):
        if (run / name).exists():
            assert isinstance(json.loads((run / name).read_text(encoding="utf-8")), dict), name
    for name in ("model.safetensors", "optimizer.safetensors", "best/model.safetensors"):
        if (run / name).exists():
            assert load_file(run / name), name


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0, delay: float = 0.0) -> None:
    """SIGKILL ``proc`` ``delay`` seconds after ``ready()`` first holds (polled every 2 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"training ended (status {proc.returncode}) before the kill: "
                                 f"{proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the moment to kill")
        time.sleep(0.002)
    if delay:
        time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _step_of(run: Path) -> int:
    try:
        return json.loads((run / "state.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def assert_killed_runs_resume_exactly(tmp_path: Path, task: str, data: list, train: list, steps: int, seed: int,
                                      ignore: tuple[str, ...] = ("time",), checkpoint_kills: bool = True) -> list[dict]:
    """``rnnkit TASK train`` killed with SIGKILL mid-step (at a random instant), and with ``checkpoint_kills``
    also while staging a checkpoint and while committing one, resumed after each kill, logs exactly what an
    uninterrupted run logs (``ignore`` keys aside) and ends with the same weights; every file a kill leaves
    parses. Returns the resumed run's log. The checkpoint instants are the trainer's, the same for every task:
    the language model's test kills there; a task's own test needs the mid-step kill, which its state (data
    position, random streams) must survive."""
    env = _env(tmp_path)
    plain = {k: v for k, v in env.items() if k != "RNNKIT_TEST_CHECKPOINT_PAUSE"}    # no kill aims at these
    reference, run = tmp_path / "reference", tmp_path / "run"
    popen = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uninterrupted = subprocess.Popen(_rnnkit(task, "train", *data, "--out", reference, *train),
                                     **{**popen, "env": plain})
    rng = random.Random(seed)
    proc = subprocess.Popen(_rnnkit(task, "train", *data, "--out", run, *train), **popen)
    logged = rng.randint(3, 8)
    _kill_when(proc, lambda: (run / "metrics.jsonl").exists() and len(_records(run)) >= logged,
               delay=rng.uniform(0.0, 0.2))                                 # mid-step
    _check_every_file_loads(run)
    instants = (lambda: (run / ".staging").is_dir() and _step_of(run) >= 2,                          # staged
                lambda: (run / ".commit").is_dir())                                                  # committing
    for ready in instants if checkpoint_kills else ():
        proc = subprocess.Popen(_rnnkit(task, "train", "--resume", run), **popen)
        _kill_when(proc, ready)
        _check_every_file_loads(run)
    done = subprocess.run(_rnnkit(task, "train", "--resume", run), env=plain, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read().decode()
    assert _step_of(run) == steps
    strip = lambda r: [{k: v for k, v in x.items() if k not in ignore} for x in _records(r)]
    got, want = strip(run), strip(reference)
    assert [r["step"] for r in got if "loss" in r] == list(range(1, steps + 1))
    assert got == want                                   # the same losses and validation metrics, exactly
    a, b = load_file(reference / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(bool((a[k] == b[k]).all()) for k in a)
    return got


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_at_random_instants_then_resume_logs_the_uninterrupted_losses(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    env = _env(tmp_path)
    reference, run = tmp_path / "reference", tmp_path / "run"
    # The uninterrupted run, alongside the interrupted one.
    uninterrupted = subprocess.Popen(_rnnkit("lm", "train", "--data", corpus, "--out", reference, *TRAIN),
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rng = random.Random(20240605)
    popen = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # 1. Killed after setting up the run but before its first checkpoint: --resume starts it again from step 0.
    proc = subprocess.Popen(_rnnkit("lm", "train", "--data", corpus, "--out", run, *TRAIN), **popen)
    _kill_when(proc, lambda: (run / "config.json").exists())
    assert not (run / "state.json").exists()
    _check_every_file_loads(run)

    # 2. Killed mid-step, a random moment after training got going (some steps logged).
    # 3. Killed with a checkpoint staged but not committed (the previous one must stay whole).
    # 4. Killed after the commit, with only part of the files moved into place (the next start finishes it).
    logged = rng.randint(2, 6)
    kills = [
        lambda: (run / "metrics.jsonl").exists() and len(_records(run)) >= logged,
        lambda: (run / ".staging").is_dir() and _step_of(run) >= 2,
        lambda: (run / ".commit").is_dir(),
    ]
    steps_seen = []
    for k, ready in enumerate(kills):
        proc = subprocess.Popen(_rnnkit("lm", "train", "--resume", run), **popen)
        delay = rng.uniform(0.0, 0.3) if k == 0 else 0.0
        _kill_when(proc, ready, delay=delay)
        _check_every_file_loads(run)
        steps_seen.append(_step_of(run))
        if k == 2:
            assert (run / ".commit").is_dir()  # the kill really landed inside the commit

    done = subprocess.run(_rnnkit("lm", "train", "--resume", run), env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read().decode()
    assert steps_seen == sorted(steps_seen) and 0 < steps_seen[-1] < STEPS  # progress was kept between kills
    assert not (run / ".staging").exists() and not (run / ".commit").exists()
    _check_every_file_loads(run)
    assert _step_of(run) == STEPS

    train_losses, valid_losses = _losses(run)
    want_train, want_valid = _losses(reference)
    assert [s for s, _ in train_losses] == list(range(1, STEPS + 1))
    assert train_losses == want_train  # exactly: the same floats, step by step
    assert valid_losses == want_valid
    ref_weights, weights = load_file(reference / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(bool((ref_weights[k] == weights[k]).all()) for k in ref_weights)


def test_resume_of_a_run_killed_before_its_config_is_a_clear_error(tmp_path, capsys):
    """Killed before even config.json was written: --resume says what to do instead."""
    from rnnkit.cli.main import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "vocab.json").write_text("{}")
    assert main(["lm", "train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "no config.json" in err and f"--out {run}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
