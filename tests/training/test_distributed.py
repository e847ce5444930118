"""Data-parallel training under ``torchrun`` (gloo, two CPU processes) equals one process with the same global batch.

Each rank takes ``B / 2`` rows of every global batch of ``B`` rows and DistributedDataParallel averages the
gradients, so two processes compute what one computes, up to float round-off in the gradient sum.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as tdist
from safetensors.torch import load_file

from rnnkit.engine.native import build
from tests.cli.conftest import CORPUS

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--hidden", "12", "--layers", "2", "--embedding", "6", "--batch-size", "4", "--seq-len", "12",
         "--save-every", "3", "--eval-every", "3", "--eval-batches", "2", "--log-every", "1", "--seed", "5",
         "--lr", "1e-2", "--schedule", "constant", "--warmup", "2", "--quiet", "--sample-length", "0"]

pytestmark = pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()),
                                reason="this torch build has no gloo backend for CPU process groups")


def _env(cache: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", RNNKIT_CACHE=str(cache), PYTHONPATH=str(ROOT))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _command(argv, procs: int = 1) -> list[str]:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs)]
                if procs > 1 else [sys.executable])
    return [*launcher, "-m", "rnnkit", *map(str, argv)]


def _run(argv, env, procs: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run(_command(argv, procs), env=env, capture_output=True, text=True, timeout=300)


def _metrics(run: Path, key: str) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r[key]) for r in records if key in r]


def _close(a: list, b: list, tol: float = 1e-5) -> bool:
    return [s for s, _ in a] == [s for s, _ in b] and all(abs(x - y) <= tol for (_, x), (_, y) in zip(a, b))


def assert_two_processes_train_what_one_does(tmp_path: Path, argv: list, valid_key: str) -> tuple[Path, Path]:
    """``rnnkit TASK train ARGV…`` in one process and under torchrun in two log the same losses and ``valid_key``
    and end with the same weights (to float round-off); returns the two run directories."""
    from safetensors.torch import load_file

    single, multi = tmp_path / "single", tmp_path / "multi"
    pipes = dict(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    one = subprocess.Popen(_command([*argv, "--out", single]), env=_env(tmp_path / "c1"), **pipes)   # side by side
    done = _run([*argv, "--out", multi], _env(tmp_path / "c2"), 2)
    assert one.wait(timeout=300) == 0, one.stderr.read()
    assert done.returncode == 0, done.stderr
    assert _metrics(multi, "loss") and _close(_metrics(multi, "loss"), _metrics(single, "loss"))
    assert _metrics(multi, valid_key) and _close(_metrics(multi, valid_key), _metrics(single, valid_key))
    a, b = load_file(single / "model.safetensors"), load_file(multi / "model.safetensors")
    assert max(float((a[k].double() - b[k].double()).abs().max()) for k in a) <= 1e-5
    return single, multi


def test_two_processes_equal_one_with_the_same_global_batch_and_resume(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    single, multi = tmp_path / "single", tmp_path / "multi"
    done = _run(["lm", "train", "--data", corpus, "--out", single, "--steps", 8, "--dropout", 0, *TRAIN],
                _env(tmp_path / "cache-single"))
    assert done.returncode == 0, done.stderr

    # Two ranks on an empty cache (both ranks want the id cache and the compiled kernels at once: one builds
    # each under its lock or atomic rename, the other waits or finds it), stopped at step 4 and resumed.
    cache = tmp_path / "cache-multi"
    assert not cache.exists()
    env = _env(cache)
    done = _run(["lm", "train", "--data", corpus, "--out", multi, "--steps", 4, "--dropout", 0, *TRAIN], env, 2)
    assert done.returncode == 0, done.stderr
    if build.compiler() is not None and os.environ.get("RNNKIT_NATIVE", "1") != "0":
        kernels = [p.name for p in cache.iterdir() if p.name.startswith(("kernels-", build._TEMPORARY))]
        assert len(kernels) == 1 and kernels[0].endswith(".so"), kernels       # built once, nothing half-made
    state = json.loads((multi / "state.json").read_text())
    assert state["world_size"] == 2
    assert len(state["rank_rng"]) == 1 and state["rank_rng"][0]["torch"] != state["rng"]["torch"]  # own dropout
    done = _run(["lm", "train", "--resume", multi, "--steps", 8], env, 2)
    assert done.returncode == 0, done.stderr
    names = [sorted(p.name for p in (tmp_path / c).iterdir()) for c in ("cache-multi", "cache-single")]
    assert names[0] == names[1]                              # one file of each cache, no leftovers

    assert _metrics(multi, "loss") and _close(_metrics(multi, "loss"), _metrics(single, "loss"))
    valid = [(s, v) for s, v in _metrics(multi, "valid_loss") if s != 4]  # step 4 ended the first part: evaluated
    assert valid and _close(valid, _metrics(single, "valid_loss"))
    a, b = load_file(single / "model.safetensors"), load_file(multi / "model.safetensors")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5
    assert json.loads((multi / "state.json").read_text())["step"] == 8


def test_an_error_on_rank_0_ends_every_rank(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "something").write_text("x")
    # rank 0 refuses an existing --out: every rank stops (no rank waits forever), with the message.
    done = _run(["lm", "train", "--data", corpus, "--out", run, "--steps", 3, *TRAIN], _env(tmp_path / "cache"), 2)
    assert done.returncode != 0
    assert "already exists" in done.stderr
