"""Argument types and the flags every ``train`` shares (DESIGN.md §2)."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields

from rnnkit.cells import CELLS
from rnnkit.training.config import OPTIMIZERS, PRECISIONS, TrainConfig
from rnnkit.training.schedule import SCHEDULES
from rnnkit.training.tensorboard import summary_writer_class


def _int(text: str, minimum: int) -> int:
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int(text, 1)


def nonnegative_int(text: str) -> int:
    return _int(text, 0)


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def nonnegative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def probability(text: str) -> float:
    """A number in (0, 1] (top-p)."""
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1) (dropout, validation fraction)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


_HELP = {
    "steps": "total optimizer steps (a resumed run continues up to this)",
    "epochs": "passes over the training data; sets --steps to this many epochs' batches unless --steps is given",
    "batch_size": "sequences per batch, B",
    "seq_len": "time steps per batch, T: backpropagation is truncated after T steps",
    "optimizer": "optimizer", "lr": "peak learning rate", "weight_decay": "weight decay (L2; decoupled for adamw)",
    "momentum": "momentum for sgd", "beta2": "adam/adamw: decay of the squared-gradient average",
    "schedule": "learning-rate schedule after warmup",
    "warmup": "warmup steps (linear rise to --lr)", "min_lr_ratio": "cosine: final lr as a fraction of --lr",
    "lr_gamma": "step/plateau: multiply the lr by this", "lr_step_size": "step: decay every this many steps",
    "clip_norm": "clip the gradient's global norm to this (0 turns clipping off)",
    "clip_value": "clip every gradient component to [-v, v]",
    "ema": "evaluate and keep as the best checkpoint an exponential moving average of the weights with this "
    "decay per step (Polyak averaging, e.g. 0.98; off by default)",
    "eval_every": "evaluate (and print a sample) every N steps", "eval_batches": "evaluate on at most N batches",
    "save_every": "write the latest checkpoint every N steps", "log_every": "log metrics every N steps",
    "patience": "early stopping: stop after N evaluations without a better validation metric",
    "max_bad_steps": "stop after N non-finite steps in a row", "time_limit": "stop after this many minutes",
    "sample_length": "tokens in the sample printed at each evaluation", "seed": "random seed; the same seed gives "
    "the same run", "device": "auto, cpu, cuda or cuda:N",
    "precision": "bf16: run the forward pass and loss under bfloat16 autocast (CPUs with AVX512-BF16 or AMX, "
    "CUDA GPUs from compute capability 8.0); weights, optimizer state and checkpoints stay float32, and "
    "validation runs in float32",
    "tensorboard": "also write TensorBoard event files (training loss, lr, gradient norm, throughput, validation "
    "metrics, samples) to DIR; a resumed run goes on in the same DIR, '' turns it off; metrics.jsonl is written "
    "either way (needs pip install 'rnnkit[tensorboard]')",
}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "precision": PRECISIONS}
_TYPES = {"steps": positive_int, "epochs": positive_int, "batch_size": positive_int, "seq_len": positive_int,
          "lr": positive_float,
          "weight_decay": nonnegative_float, "momentum": nonnegative_float, "beta2": fraction,
          "warmup": nonnegative_int,
          "min_lr_ratio": nonnegative_float, "lr_gamma": positive_float, "lr_step_size": positive_int,
          "clip_norm": nonnegative_float, "clip_value": positive_float, "ema": fraction, "eval_every": positive_int,
          "eval_batches": positive_int, "save_every": positive_int, "log_every": positive_int,
          "patience": positive_int, "max_bad_steps": positive_int, "time_limit": positive_float,
          "sample_length": nonnegative_int, "seed": int, "device": str, "precision": str, "optimizer": str,
          "schedule": str,
          "tensorboard": str}
_METAVARS = {"tensorboard": "DIR"}


def add_train_flags(parser: argparse.ArgumentParser, defaults: TrainConfig, model_defaults: dict) -> None:
    """Model and training flags shared by every ``train`` (defaults from ``defaults`` and ``model_defaults``)."""
    d = model_defaults
    parser.add_argument("--data", nargs="+", metavar="FILE", help="training data file(s)")
    parser.add_argument("--valid", nargs="+", metavar="FILE", help="validation file(s) instead of a split")
    parser.add_argument("--out", metavar="RUN", help="run directory to create (default: a new one under runs/)")
    parser.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint up to --steps")
    parser.add_argument("--cell", choices=list(CELLS), help=f"recurrent cell (default: {d['cell']})")
    parser.add_argument("--hidden", type=positive_int, metavar="H", help=f"hidden size H (default: {d['hidden']})")
    parser.add_argument("--layers", type=positive_int, metavar="L",
                        help=f"number of stacked layers L (default: {d['layers']})")
    parser.add_argument("--dropout", type=fraction,
                        help=f"dropout between layers and before the output layer (default: {d['dropout']})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or samples")
    group = parser.add_argument_group("training")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        group.add_argument(flag, type=_TYPES[f.name], choices=_CHOICES.get(f.name), default=None,
                           metavar=_METAVARS.get(f.name),
                           help=f"{_HELP[f.name]} (default: {getattr(defaults, f.name)})")


def train_config(args, defaults: TrainConfig, saved: dict | None = None) -> TrainConfig:
    """The :class:`TrainConfig` from ``defaults``, then ``saved`` (a resumed run's), then the given flags."""
    values = {f.name: getattr(defaults, f.name) for f in fields(TrainConfig)}
    values.update({k: v for k, v in (saved or {}).items() if k in values})
    values.update({f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None})
    if values["clip_norm"] == 0:
        values["clip_norm"] = None
    if values["tensorboard"] == "":
        values["tensorboard"] = None
    config = TrainConfig(**values)
    config.validate()
    if config.tensorboard is not None:
        summary_writer_class()  # a missing package is an error now, not after the data is read
    return config


def add_use_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of every verb that uses a trained run: which weights, on which device."""
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="weights to use: the best validation metric, or the latest checkpoint (default: best)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")


def lazy_handler(module: str, name: str):
    """A verb's handler that imports its module only when it runs, so ``--help`` stays fast."""
    def run(args):
        import importlib

        return getattr(importlib.import_module(module), name)(args)
    return run


def stdin_chunks(read_line, size: int = 256):
    """Lists of what ``read_line(line, where)`` makes of standard input's lines (None skips a line): one item
    at a time when a person types (so each answer comes at once), else ``size`` at a time."""
    import sys

    interactive = sys.stdin.isatty()
    chunk = []
    for n, line in enumerate(sys.stdin, 1):
        item = read_line(line, f"<stdin>:{n}")
        if item is None:
            continue
        chunk.append(item)
        if interactive or len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
