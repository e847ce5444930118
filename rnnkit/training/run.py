"""Run directories (DESIGN.md §3): creating them, and opening them safely.

::

    RUN/config.json            format version, task, model, training and data configuration
    RUN/vocab.json             the vocabulary
    RUN/model.safetensors      latest weights   ┐
    RUN/optimizer.safetensors  optimizer state  ├ the latest checkpoint, replaced all together
    RUN/state.json             step, position,  ┘ RNG states
    RUN/best/model.safetensors the weights with the best validation loss
    RUN/metrics.jsonl, RUN/loss.png
"""

from __future__ import annotations

import time
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write_json
from rnnkit.training.checkpoint import load_json, recover

FORMAT_VERSION = 1


def new_run_dir(out: str | None, task: str) -> Path:
    """``out``, or a fresh ``runs/<task>-<date>-<time>`` directory; an existing non-empty ``out`` is refused."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{task}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path("runs") / f"{task}-{stamp}-{n}"
    else:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RnnkitError(f"{path} already exists and is not empty; choose another --out, or continue it "
                              f"with --resume {path}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RnnkitError(f"{path}: cannot create the run directory ({e.strerror})") from None
    return path


def write_config(run: Path, config: dict) -> None:
    atomic_write_json(run / "config.json", {"format_version": FORMAT_VERSION, **config})


def read_config(run: str | Path, task: str) -> dict:
    """``config.json`` of a run, checked: it exists, its format is known, and it belongs to ``task``."""
    run = Path(run)
    if not run.is_dir():
        raise RnnkitError(f"{run}: no such run directory; give the directory that 'rnnkit {task} train' wrote")
    recover(run)  # finish a checkpoint write that a kill interrupted
    if not (run / "config.json").exists():
        raise RnnkitError(f"{run}: no config.json: this run was stopped before it was set up, or it is not a run "
                          f"directory; delete it and start again with --out {run}")
    config = load_json(run / "config.json")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise RnnkitError(f"{run / 'config.json'}: no format_version; this is not an rnnkit run directory")
    if version > FORMAT_VERSION:
        raise RnnkitError(f"{run / 'config.json'}: format version {version} is newer than this rnnkit "
                          f"understands ({FORMAT_VERSION}); upgrade rnnkit")
    if config.get("task") != task:
        raise RnnkitError(f"{run}: this run was trained by 'rnnkit {config.get('task')} train', "
                          f"not 'rnnkit {task} train'")
    return config


def weights_path(run: str | Path, checkpoint: str = "best") -> Path:
    """The weights to use: ``best`` (falls back to latest when there was no validation) or ``latest``."""
    run = Path(run)
    if checkpoint not in ("best", "latest"):
        raise RnnkitError(f"--checkpoint must be 'best' or 'latest', got {checkpoint!r}")
    best = run / "best" / "model.safetensors"
    if checkpoint == "best":
        recover(run / "best") if (run / "best").is_dir() else None
        if best.exists():
            return best
    return run / "model.safetensors"
