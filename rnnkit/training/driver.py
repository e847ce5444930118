"""The one ``train`` driver of every task: new run or resume, configuration, devices, seeding, torchrun.

``rnnkit TASK train`` parses its flags and calls :func:`train` with a :class:`TrainTask`; the driver does what
every task's training does the same way:

1. ``--out`` (a new run) or ``--resume RUN`` (its ``config.json`` read and checked);
2. the :class:`TrainConfig` from the task's defaults, then the resumed run's, then the flags;
3. the device and the process group under ``torchrun``; the seed;
4. the task reads its data and builds its model (:meth:`TrainTask.prepare`) — before anything is written,
   so bad input leaves no half-made run directory;
5. a new run directory gets the task's files (vocabulary, labels …) and then ``config.json`` (a run with a
   ``config.json`` is complete);
6. the trainer: resumed from the latest checkpoint, or started again when the run never reached one;
7. a summary line, and the run directory on stdout.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from rnnkit.errors import RnnkitError
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.objective import Objective
from rnnkit.training.optim import resolve_device
from rnnkit.training.precision import check_precision
from rnnkit.training.run import new_run_dir, read_config, write_config
from rnnkit.training.trainer import Trainer


@dataclass
class Prepared:
    """What a task hands the driver.

    Attributes:
        model: the model, on the device.
        train, valid: batches (``valid`` may be None).
        objective: the task's objective.
        config: ``config.json`` entries besides the format version, the task and ``train`` (``model``,
            ``data`` …); written once, when the run is created.
        files: name → ``write(path)`` for the task's own files of a new run (``vocab.json`` …).
        description: what is trained on what, printed at the start.
        sample: optional ``sample(model, step) -> str`` printed at each evaluation.
        on_best: optional ``on_best(model, metrics, run_dir)`` after each new best checkpoint (rank 0).
    """

    model: torch.nn.Module
    train: Any
    valid: Any
    objective: Objective
    config: dict
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    description: str = ""
    sample: Callable | None = None
    on_best: Callable | None = None


class TrainTask(Protocol):
    """What is particular to a task's training."""

    name: str                                 # the task, as in ``rnnkit NAME train`` and config.json
    defaults: TrainConfig                     # its training defaults
    model_flags: tuple[str, ...]              # flags that fix the model: a resumed run may not change them

    def prepare(self, args, saved: dict | None, run: Path | None, config: TrainConfig,
                device: torch.device) -> Prepared:
        """Read the data and build the model: for a new run (``saved`` None, ``run`` None) from the files and
        flags; for a resumed one from its saved configuration and files in ``run``. Defaults that depend on
        the data (the batch size for its size, …) are set here on ``config``, where no flag gave them."""


def train(args, task: TrainTask) -> int:
    """``rnnkit TASK train``: see the module doc."""
    from rnnkit.cli.args import train_config

    saved = None
    if args.resume:
        if args.out:
            raise RnnkitError("give either --out (a new run) or --resume RUN (continue one), not both")
        saved = read_config(args.resume, task.name)
        if not all(isinstance(saved.get(key), dict) for key in ("data", "train", "model")):
            raise RnnkitError(f"{Path(args.resume) / 'config.json'}: malformed configuration (it needs 'data', "
                              "'train' and 'model' objects); the file is corrupt")
        for key in task.model_flags:
            given, kept = getattr(args, key, None), saved["data"].get(key)
            if given is not None and given != kept:
                raise RnnkitError(f"--{key.replace('_', '-')} differs from the run being resumed ({kept}); "
                                  "the model of a run cannot change")
    with saved_values(args):
        config = train_config(args, task.defaults, saved["train"] if saved else None)
    device = resolve_device(config.device)
    check_precision(config.precision, device)     # before the data is read
    dist.init(device.type)
    if device.type == "cuda" and dist.world_size() > 1:
        device = torch.device("cuda", dist.local_rank())
        torch.cuda.set_device(device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    run = Path(args.resume) if saved else None
    with saved_values(args):
        prepared = task.prepare(args, saved, run, config, device)
    if config.epochs is not None and getattr(args, "steps", None) is None and (
            not saved or getattr(args, "epochs", None) is not None):
        config.steps = config.epochs * len(prepared.train)     # --epochs counts passes over the training data
    if run is None:
        run = broadcast_path(lambda: new_run_dir(args.out, task.name))
    if dist.rank() > 0:
        # Every rank starts from the same weights (DDP copies rank 0's), but draws its own dropout masks.
        torch.manual_seed(config.seed + 7919 * dist.rank())
    if not saved and dist.is_main():
        for name, write in prepared.files.items():
            write(run / name)              # before config.json: a run with a config.json is complete
        write_config(run, {"task": task.name, **prepared.config, "train": asdict(config)})
    trainer = Trainer(prepared.model, prepared.train, prepared.valid, prepared.objective, config, run,
                      sample=prepared.sample, device=device, quiet=args.quiet, on_best=prepared.on_best)
    if saved and (run / "state.json").exists():
        trainer.resume()
    elif saved:
        # Stopped before its first checkpoint: start it again from step 0 with its saved configuration
        # (the same seed gives the same run), dropping whatever it logged.
        if dist.is_main():
            print(f"rnnkit {task.name} train: {run} has no checkpoint yet; starting it again from step 0",
                  file=sys.stderr)
            trainer.metrics.truncate(0)
    if dist.is_main() and not args.quiet:
        n_params = sum(p.numel() for p in prepared.model.parameters())
        print(f"rnnkit {task.name} train: {prepared.description}\n  {n_params:,} parameters, {config.steps:,} "
              f"steps; run directory {run}", file=sys.stderr)
    summary = trainer.fit()
    if dist.is_main():
        best, name = summary["best"], summary["monitor"].replace("_", " ")
        print(f"done: step {summary['step']}" + (f", best {name} {best:.4f}" if best is not None else "")
              + (" (stopped early)" if summary["stopped_early"] else "") + f"; run directory {run}", file=sys.stderr)
        print(run)
    dist.shutdown()
    return 0


@contextlib.contextmanager
def saved_values(args):
    """Values of a resumed run's config.json of the wrong type (a hand-edited file) are a clear error."""
    try:
        yield
    except (TypeError, KeyError, AttributeError) as e:
        if not getattr(args, "resume", None):
            raise
        raise RnnkitError(f"{Path(args.resume) / 'config.json'}: malformed configuration ({e!r})") from None


def broadcast_path(make) -> Path:
    """Rank 0 creates the run directory with ``make()``; every rank learns it, or raises rank 0's error."""
    if dist.world_size() == 1:
        return make()
    import torch.distributed as tdist

    box = [None, None]
    if dist.is_main():
        try:
            box[0] = str(make())
        except RnnkitError as e:
            box[1] = str(e)
    tdist.broadcast_object_list(box, src=0)
    if box[1] is not None:
        raise RnnkitError(box[1])
    return Path(box[0])


def resolve_options(defaults: dict, args, saved: dict | None) -> dict:
    """A task's options: ``defaults``, then a resumed run's ``saved`` values (which flags cannot change), or for
    a new run the flags given (an attribute of ``args`` that is not None)."""
    opts = dict(defaults)
    if saved is not None:
        opts.update({k: saved[k] for k in opts if k in saved})
        return opts
    opts.update({k: getattr(args, k) for k in opts if getattr(args, k, None) is not None})
    return opts


def data_files(args, saved: dict | None, formats: str) -> tuple[list, list | None]:
    """(training files, validation files or None): the flags, else a resumed run's."""
    files = args.data or (saved["data"]["files"] if saved else None)
    if not files:
        raise RnnkitError(f"no training data: give --data FILE ({formats})")
    return files, args.valid or (saved["data"].get("valid_files") if saved else None)


def once_an_epoch(config: TrainConfig, args, batches_per_epoch: int, low: int, high: int) -> None:
    """Evaluate and save once an epoch (at least every ``low``, at most every ``high`` steps), where
    ``--eval-every`` / ``--save-every`` were not given."""
    every = int(min(high, max(low, batches_per_epoch)))
    for key in ("eval_every", "save_every"):
        if getattr(args, key, None) is None:
            setattr(config, key, every)
