"""The compiled kernels' build cache across processes (rnnkit/engine/native/build.py): processes that start at
once on an empty cache (the ranks of a ``torchrun``) take turns under the cache lock, so exactly one compiles
and every one loads a library that passes the probe."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from rnnkit.engine import native
from rnnkit.engine.native import build

needs_compiler = pytest.mark.skipif(build.compiler() is None, reason="no C compiler on this machine")


def _build_at_once(cache: str, log: str, barrier) -> str:
    """In a fresh (spawned) process: wait for the others, then ask for the library; every compile appends a
    line to ``log``. Returns :func:`build.reason` (``"loaded"`` once the probe agreed with torch)."""
    os.environ.update(RNNKIT_CACHE=cache, OMP_NUM_THREADS="1")
    compile_ = build._compile

    def counted(*args):
        with open(log, "a") as f:              # O_APPEND: one whole line per compile, whoever writes
            f.write(f"{os.getpid()}\n")
        time.sleep(0.5)                        # hold the build open so that the others surely arrive meanwhile
        return compile_(*args)

    build._compile = counted
    barrier.wait(timeout=120)
    build.library()
    return build.reason()


@needs_compiler
def test_processes_building_at_once_on_an_empty_cache_compile_once_and_all_load(tmp_path):
    cache, log, n = tmp_path / "cache", tmp_path / "compiles.log", 3
    context = multiprocessing.get_context("spawn")     # fresh interpreters, as torchrun starts its ranks
    barrier = context.Manager().Barrier(n)
    with context.Pool(n) as pool:
        reasons = pool.starmap(_build_at_once, [(str(cache), str(log), barrier)] * n, chunksize=1)
    assert reasons == ["loaded"] * n
    assert len(log.read_text().splitlines()) == 1                        # one process compiled
    built = sorted(p.name for p in cache.iterdir())
    assert len(built) == 1 and built[0].endswith(".so") and not built[0].startswith(build._TEMPORARY)


@needs_compiler
def test_a_build_killed_midway_leaves_a_temporary_file_the_next_build_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    (tmp_path / f"{build._TEMPORARY}dead.so").write_bytes(b"half a library")   # what a SIGKILL leaves
    native.reset()
    try:
        assert build.library() is not None, build.reason()
        built = [p.name for p in tmp_path.iterdir()]
        assert len(built) == 1 and not built[0].startswith(build._TEMPORARY)
    finally:
        native.reset()
