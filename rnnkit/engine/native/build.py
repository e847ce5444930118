"""Compiling and loading rnnkit's C kernels on first use: ``step.c`` (batch-1 generation steps) and the
training loops, one source per cell family over a shared header (``train_lstm.c``, ``train_gru.c``,
``train_rnn.c``, ``train.h``).

The library is built once per machine with the C compiler found on the ``PATH`` (``$CC``, else ``cc``,
``gcc``, ``clang``), for this CPU (``-march=native``) and with OpenMP where the compiler has it, and cached
under ``$RNNKIT_CACHE`` (default ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``) in a file named by
a hash of the source, the compiler, the flags and the CPU. Processes that start at once (the ranks of a
``torchrun``) take turns: an exclusive lock on the cache folder (``flock``) is held around checking, building
and loading, so one process compiles and the others wait, then load what it wrote. The file is still written
atomically (a temporary file, then a rename): a process killed mid-build leaves no half-written library, and
the next build removes its temporary file. It is loaded with :mod:`ctypes` and used only after a probe agrees
with torch on a small problem.

Without a compiler, on a failed build or probe, or with ``RNNKIT_NATIVE=0``, :func:`library` returns
``None`` and generation runs on torch's kernels alone, slower and with the same results to float32
rounding; :func:`reason` says why.

OpenMP: linked as ``libgomp.so.1``, the name torch's own copy of GNU OpenMP carries, so in a process that
has imported torch the loader hands this library torch's runtime and both share one thread pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SOURCES = tuple(Path(__file__).with_name(name) for name in ("step.c", "train_lstm.c", "train_gru.c", "train_rnn.c"))
HEADERS = (Path(__file__).with_name("train.h"),)
# Tried in order; the first that compiles wins.
FLAG_SETS = (
    ("-O3", "-march=native", "-fopenmp"),
    ("-O3", "-march=native", "-fopenmp-simd"),
    ("-O3", "-fopenmp-simd"),
)
# gnu99: floating-point contraction into FMAs; no trapping math: floorf vectorises (exp in train.h).
_COMMON = ("-shared", "-fPIC", "-std=gnu99", "-fno-trapping-math")

_VOID, _INT = ctypes.c_void_p, ctypes.c_int
_SIGNATURES = {
    "rnnkit_lstm_step": [_VOID] * 8 + [_INT] * 3,
    "rnnkit_gru_step": [_VOID] * 6 + [_INT] * 4,
    "rnnkit_rnn_step": [_VOID] * 5 + [_INT] * 4,
    "rnnkit_linear_row": [_VOID] * 4 + [_INT] * 3,
    "rnnkit_lstm_step_bf16": [_VOID] * 7 + [_INT] * 3,
    "rnnkit_linear_row_bf16": [_VOID] * 4 + [_INT] * 3,
    # the training loops: (sgemm, W_h, ldw), buffers, (len, M), then ints
    "rnnkit_lstm_forward": [_VOID, _VOID, _INT] + [_VOID] * 5 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_lstm_backward": [_VOID, _VOID, _INT] + [_VOID] * 11 + [_INT, _VOID, _VOID] + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_gru_forward": [_VOID, _VOID, _INT] + [_VOID] * 3 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_gru_backward": [_VOID, _VOID, _INT] + [_VOID] * 7 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_gru_after_forward": [_VOID, _VOID, _INT] + [_VOID] * 4 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_gru_after_backward": [_VOID, _VOID, _INT] + [_VOID] * 9 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_rnn_forward": [_VOID, _VOID, _INT] + [_VOID] * 2 + [_VOID] * 2 + [_INT] * 6,
    "rnnkit_rnn_backward": [_VOID, _VOID, _INT] + [_VOID] * 6 + [_VOID] * 2 + [_INT] * 6,
    "rnnkit_simple_gru_forward": [_VOID, _VOID, _INT] + [_VOID] * 2 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_simple_gru_backward": [_VOID, _VOID, _INT] + [_VOID] * 7 + [_VOID] * 2 + [_INT] * 5,
    "rnnkit_weight_grad": [_VOID, _VOID, ctypes.c_long, _INT, _VOID, ctypes.c_long, _INT, _INT, _VOID] + [_INT] * 4,
}

_reason = "not tried yet"


def reason() -> str:
    """Why :func:`library` is ``None`` (or ``"loaded"``)."""
    return _reason


def cache_dir() -> Path:
    if os.environ.get("RNNKIT_CACHE"):
        return Path(os.environ["RNNKIT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnkit"


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu() -> str:
    """What ``-march=native`` compiles for: the CPU's model and feature flags."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags", "Features"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor() + platform.machine()


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, built and probed on the first call; ``None`` where they cannot be used."""
    global _reason
    if os.environ.get("RNNKIT_NATIVE", "1") == "0":
        _reason = "disabled by RNNKIT_NATIVE=0"
        return None
    if not sys.platform.startswith(("linux", "darwin")):
        _reason = f"not built on {sys.platform}"
        return None
    cc = compiler()
    if cc is None:
        _reason = "no C compiler found (set CC, or install gcc or clang)"
        return None
    sources = [path.read_bytes() for path in (*SOURCES, *HEADERS)]
    with _cache_lock(cache_dir()):
        return _build_and_load(cc, sources)


def _build_and_load(cc: str, sources: list[bytes]) -> ctypes.CDLL | None:
    """The first flag set's library that is cached or builds, loads and passes the probe (under the lock)."""
    global _reason
    errors = []
    for flags in FLAG_SETS:
        key = hashlib.sha256(b"\0".join([*sources, cc.encode(), " ".join(flags).encode(), _cpu().encode()]))
        path = cache_dir() / f"kernels-{key.hexdigest()[:16]}.so"
        if not path.exists():
            error = _compile(cc, flags, path)
            if error:
                errors.append(f"{' '.join(flags)}: {error}")
                continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            errors.append(f"loading {path}: {e}")
            continue
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = argtypes, None
        from rnnkit.engine.native.probe import agrees

        if not agrees(lib):
            errors.append(f"{path} disagrees with torch on a probe")
            continue
        _reason = "loaded"
        return lib
    _reason = "build failed: " + "; ".join(errors)
    return None


_TEMPORARY = ".building-"   # the prefix of a library being compiled (then renamed to its cache name)


@contextlib.contextmanager
def _cache_lock(directory: Path):
    """Hold an exclusive ``flock`` on the cache folder itself while the block runs: no lock file is left
    behind, and the kernel drops the lock when its holder exits, even by SIGKILL, so no process waits on a
    dead one. A folder that cannot be made or opened is not locked (:func:`_compile` then says why)."""
    import fcntl

    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)                                  # releases the lock


def _compile(cc: str, flags: tuple[str, ...], path: Path) -> str | None:
    """Build ``path`` (atomically; called under :func:`_cache_lock`); an error message, or None."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(_TEMPORARY + "*"):  # a build killed midway: no one else builds now
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TEMPORARY, suffix=".so", dir=path.parent)
        os.close(fd)
    except OSError as e:
        return f"cannot write to {path.parent}: {e} (set RNNKIT_CACHE to a writable folder)"
    try:
        done = subprocess.run([cc, *flags, *_COMMON, *map(str, SOURCES), "-o", tmp, "-lm"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            return (done.stderr.strip().splitlines() or ["failed"])[-1]
        os.replace(tmp, path)
        return None
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def sgemm() -> int | None:
    """The address of the Fortran BLAS ``sgemm_`` torch itself links (MKL in the x86 wheels), for the training
    loops (``train_*.c``); None where this torch does not export one."""
    path = Path(torch.__file__).parent / "lib" / ("libtorch_cpu" + (".dylib" if sys.platform == "darwin" else ".so"))
    try:
        return ctypes.cast(ctypes.CDLL(str(path)).sgemm_, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
