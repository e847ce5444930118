"""Checkpoints that survive a kill at any instant, and load without pickle.

A checkpoint is a set of files (``model.safetensors``, ``optimizer.safetensors``, ``state.json``, …) that
must change together. Writing them is a small journal:

1. every file is written and flushed to disk inside ``RUN/.staging/``;
2. ``.staging`` is renamed to ``.commit`` — one atomic rename, the commit point;
3. each file is moved from ``.commit`` over its old copy (``os.replace``, atomic per file), then
   ``.commit`` is removed.

A run killed before step 2 keeps its previous checkpoint untouched (the half-written ``.staging`` is
discarded); killed during step 3, the next :func:`recover` finishes the moves. Either way the files in
``RUN/`` always form one complete checkpoint.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from rnnkit.errors import RnnkitError
from rnnkit.fileio import fsync_dir, read_json

STAGING, COMMIT = ".staging", ".commit"


def _test_pause() -> None:
    """Kill tests set ``RNNKIT_TEST_CHECKPOINT_PAUSE`` (seconds) to hold a checkpoint write at its riskiest
    instants (files staged but not committed; committed but only partly moved), so that a kill lands there."""
    pause = os.environ.get("RNNKIT_TEST_CHECKPOINT_PAUSE")
    if pause:
        time.sleep(float(pause))


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def recover(directory: str | Path) -> None:
    """Finish or discard an interrupted :func:`write_checkpoint` in ``directory`` (idempotent)."""
    directory = Path(directory)
    staging, commit = directory / STAGING, directory / COMMIT
    if commit.is_dir():
        try:
            items = sorted(commit.iterdir())
        except FileNotFoundError:
            items = []  # another process (a second torchrun rank) finished the recovery meanwhile
        for item in items:
            try:
                os.replace(item, directory / item.name)
            except FileNotFoundError:
                pass  # moved by another process recovering at the same time
            if item == items[0]:
                _test_pause()
        fsync_dir(directory)
        shutil.rmtree(commit, ignore_errors=True)
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)


def write_checkpoint(directory: str | Path, files: dict[str, bytes | str]) -> None:
    """Replace the files named in ``files`` (name → content) in ``directory`` all together (see module doc)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    recover(directory)
    staging = directory / STAGING
    staging.mkdir()
    for name, data in files.items():
        _write_file(staging / name, data.encode("utf-8") if isinstance(data, str) else data)
    fsync_dir(staging)
    _test_pause()
    os.replace(staging, directory / COMMIT)          # the commit point
    fsync_dir(directory)
    recover(directory)


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes of ``tensors`` (made contiguous, moved to the CPU)."""
    return st_save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=metadata)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing, truncated or tampered file is a clear :class:`RnnkitError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RnnkitError(f"{path}: file not found; is this a run directory written by 'rnnkit ... train'?") from None
    except OSError as e:
        raise RnnkitError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as e:
        raise RnnkitError(f"{path}: not a valid safetensors file ({e}); the file is truncated or corrupt") from None


def load_json(path: str | Path) -> dict:
    """Read a JSON object; a missing or malformed file is a clear :class:`RnnkitError`."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise RnnkitError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj
