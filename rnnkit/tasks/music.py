"""Polyphonic music (one-to-many): files → piano rolls → PianoRollModel, scored as the literature scores it.

What is particular to the task lives here: reading pieces (:mod:`rnnkit.data.formats.music`) and choosing the
validation pieces, the defaults, the objective (the logistic loss summed over keys, per frame), the
validation metrics (negative log-likelihood per frame over every frame but each piece's first, which picks
the best checkpoint; Bay et al.'s frame accuracy of the most likely next frame), the independent-Bernoulli
baseline printed beside every result, and loading a run for ``eval`` and ``generate``. Training itself is the
shared trainer's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.cache import default_cache_dir
from rnnkit.data.examples import Batch, ExampleBatches, pad_sequences
from rnnkit.data.formats.music import (
    KEYS,
    Piece,
    default_chorales,
    guess_music_format,
    parse_resolution,
    read_music,
)
from rnnkit.errors import RnnkitError
from rnnkit.losses import sequence_logistic_loss
from rnnkit.metrics.music import bernoulli_nll, frame_accuracy, frame_counts, key_frequencies
from rnnkit.models.piano_roll import PianoRollModel
from rnnkit.tasks.classify_data import split_examples
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.driver import Prepared, once_an_epoch, resolve_options
from rnnkit.training.run import read_config, weights_path
from rnnkit.training.trainer import load_model_weights

MODEL_KEYS = ("cell", "hidden", "layers", "dropout", "input_dropout")
MODEL_DEFAULTS = {"cell": "lstm", "hidden": 256, "layers": 1, "dropout": 0.5, "input_dropout": 0.0}
# Chosen by validation NLL on JSB Chorales (README.md, "Choosing the music defaults").
MUSIC_TRAIN_DEFAULTS = TrainConfig(steps=100_000, epochs=100, batch_size=8, lr=2e-2, schedule="cosine", warmup=50,
                                   clip_norm=5.0, ema=0.98, patience=10, eval_every=30, save_every=30,
                                   sample_length=0, log_every=10)
DATA_DEFAULTS = {"format": None, "split": "train", "resolution": "quarter", "valid_fraction": 0.1, "transpose": 0}
EVAL_EVERY_MIN, EVAL_EVERY_MAX = 10, 1000
DEFAULT_CORPUS = "music21 Bach chorales"


# --- the objective ----------------------------------------------------------------------------------------

def transpose_rolls(rolls: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each piece of rolls (B, T, K) moved by ``shifts[b]`` semitones; keys pushed off the keyboard are lost."""
    K = rolls.shape[2]
    keys = torch.arange(K, device=rolls.device)
    source = keys.unsqueeze(0) - shifts.to(rolls.device).unsqueeze(1)                    # (B, K)
    inside = (source >= 0) & (source < K)
    moved = rolls.gather(2, source.clamp(0, K - 1).unsqueeze(1).expand(-1, rolls.shape[1], -1))
    return moved * inside.unsqueeze(1).to(rolls.dtype)


class MusicObjective:
    """The logistic loss summed over keys, per frame (all of a piece's frames, the first predicted from
    silence); validation by the negative log-likelihood per frame of every frame but the first."""

    monitor, higher_is_better, carries_state, unit = "nll_per_frame", False, False, "frames"

    def __init__(self, mean_frames: float, transpose: int = 0):
        # The loss of a batch is its summed frame losses over (pieces in the global batch × the training set's
        # mean piece length): a constant per piece, so the sum over processes is the global batch's loss.
        self.mean_frames, self.transpose = float(mean_frames), int(transpose)

    def train_loss(self, net, batch: Batch, carry):
        rolls = batch.inputs.float()
        if self.transpose:
            shifts = torch.randint(-self.transpose, self.transpose + 1, (len(batch),))
            rolls = transpose_rolls(rolls, shifts)
        logits, _ = net(PianoRollModel.shift(rolls))
        losses = sequence_logistic_loss(logits, rolls, lengths=batch.lengths, reduction="none", batch_first=True)
        return losses.sum() * (dist.world_size() / (batch.global_size * self.mean_frames)), None

    def count(self, batch: Batch) -> int:
        return int(batch.lengths.sum())

    def carry_shapes(self):
        return None

    @torch.no_grad()
    def evaluate(self, model, batches, limit: int | None = None) -> dict:
        return score(model, batches, limit)


@torch.no_grad()
def score(model: PianoRollModel, batches: ExampleBatches, limit: int | None = None) -> dict:
    """``nll_per_frame`` (also as ``loss``) and ``frame_accuracy`` over every frame but each piece's first."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, frames, tp, fp, fn = 0.0, 0, 0, 0, 0
    for k, batch in enumerate(batches.iter_from(0)):
        if limit is not None and k >= limit:
            break
        batch = batch.to(device)
        rolls = batch.inputs.float()
        logits, _ = model(PianoRollModel.shift(rolls))
        losses = sequence_logistic_loss(logits, rolls, lengths=batch.lengths, reduction="none", batch_first=True)
        total += float(losses[1:].double().sum())                          # (T, B): frame 1 is not scored
        T = rolls.shape[1]
        scored = (torch.arange(T, device=device).unsqueeze(0) < batch.lengths.unsqueeze(1))
        scored[:, 0] = False
        frames += int(scored.sum())
        a, b, c = frame_counts((logits > 0)[scored].cpu().numpy(), rolls.bool()[scored].cpu().numpy())
        tp, fp, fn = tp + a, fp + b, fn + c
    model.train(was_training)
    nll = total / frames if frames else float("nan")
    return {"loss": nll, "nll_per_frame": nll, "frame_accuracy": frame_accuracy(tp, fp, fn), "frames": frames}


def roll_batches(pieces: list[Piece], batch_size: int, *, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> ExampleBatches:
    rolls = [p.roll.astype(np.uint8) for p in pieces]

    def collate(indices: list[int]) -> Batch:
        inputs, lengths = pad_sequences([rolls[i] for i in indices])
        return Batch(inputs, lengths, None, torch.tensor(indices, dtype=torch.long))

    return ExampleBatches([len(r) for r in rolls], batch_size, collate, shuffle=shuffle, seed=seed, rank=rank,
                          world_size=world_size)


# --- training -------------------------------------------------------------------------------------------

class MusicTask:
    """``rnnkit music train``."""

    name = "music"
    defaults = MUSIC_TRAIN_DEFAULTS
    model_flags = MODEL_KEYS

    def prepare(self, args, saved, run, config, device) -> Prepared:
        opts = _options(args, saved["data"] if saved else None)
        train, valid, files, valid_files = training_pieces(args, saved, opts, config.seed)
        m = resolve_options(MODEL_DEFAULTS, args, saved["data"] if saved else None)
        model = PianoRollModel(m["hidden"], m["layers"], m["cell"], dropout=m["dropout"],
                               input_dropout=m["input_dropout"]).to(device)
        train_batches = roll_batches(train, config.batch_size, shuffle=True, seed=config.seed, rank=dist.rank(),
                                     world_size=dist.world_size())
        if not saved:
            once_an_epoch(config, args, len(train_batches), EVAL_EVERY_MIN, EVAL_EVERY_MAX)
        config.validate()
        valid_batches = roll_batches(valid, 32) if valid else None
        frequencies = key_frequencies([p.roll for p in train])
        if not saved:                           # start from the independent-Bernoulli baseline, not from 0.5
            model.start_from(frequencies)
        n_frames = sum(len(p) for p in train)
        data = {**opts, **m, "files": files, "valid_files": valid_files,
                "train_pieces": len(train), "valid_pieces": len(valid), "train_frames": n_frames,
                "key_frequencies": [float(f) for f in frequencies]}
        where = ", ".join(files) if files else DEFAULT_CORPUS
        baseline = bernoulli_nll(frequencies, [p.roll for p in valid]) if valid else None
        baseline = f"; independent-Bernoulli baseline on them {baseline:.3f} nats/frame" if valid else ""
        description = (f"{where}\n  {len(train):,} training pieces ({n_frames:,} frames) and {len(valid):,} "
                       f"validation pieces{baseline}; {m['cell']} {m['layers']}×{m['hidden']}")
        return Prepared(model, train_batches, valid_batches, MusicObjective(n_frames / len(train), opts["transpose"]),
                        {"model": asdict(model.config), "data": data}, description=description)


def _options(args, saved: dict | None) -> dict:
    opts = resolve_options(DATA_DEFAULTS, args, saved)
    parse_resolution(opts["resolution"])                  # a clear error now, not after reading
    if not 0 <= opts["valid_fraction"] < 1:
        raise RnnkitError(f"--valid-fraction must be in [0, 1), got {opts['valid_fraction']}")
    if not 0 <= opts["transpose"] <= 12:
        raise RnnkitError(f"--transpose must be between 0 and 12 semitones, got {opts['transpose']}")
    return opts


def _read(files, opts: dict, split: str) -> list[Piece]:
    return read_music(files, opts["format"], split, parse_resolution(opts["resolution"]))


def _has_splits(files, opts: dict) -> bool:
    """Whether every file is a ``json-chorales`` or ``mat`` file (which hold train, valid and test parts)."""
    return all((opts["format"] or guess_music_format(Path(f))) in ("json-chorales", "mat") for f in files)


def training_pieces(args, saved: dict | None, opts: dict, seed: int):
    """(train pieces, validation pieces, files, validation files): ``--data``'s ``--split`` part (the default
    corpus without ``--data``); validation from ``--valid`` (its ``valid`` part where it has parts), else the
    ``valid`` part of the training files when they have parts and ``--split`` is ``train``, else a random
    ``--valid-fraction`` of the training pieces."""
    files = list(map(str, args.data)) if getattr(args, "data", None) else (saved["data"]["files"] if saved else None)
    valid_files = (list(map(str, args.valid)) if getattr(args, "valid", None)
                   else (saved["data"].get("valid_files") if saved else None))
    if not files:
        if valid_files:
            raise RnnkitError("--valid needs --data: the default corpus brings its own validation pieces")
        corpus = default_chorales(default_cache_dir(), parse_resolution(opts["resolution"]))
        return corpus[opts["split"]], corpus["valid" if opts["split"] != "valid" else "test"], None, None
    train = _read(files, opts, opts["split"])
    if valid_files:
        return train, _read(valid_files, opts, "valid"), files, valid_files
    if _has_splits(files, opts) and opts["split"] == "train":
        return train, _read(files, opts, "valid"), files, None
    train, valid = split_examples(train, opts["valid_fraction"], seed)
    return train, valid, files, None


# --- using a trained run --------------------------------------------------------------------------------

@dataclass
class LoadedRun:
    model: PianoRollModel
    opts: dict
    config: dict
    frequencies: np.ndarray

    @property
    def resolution(self) -> float:
        return parse_resolution(self.opts["resolution"])


def load_run(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """The model of a ``music train`` run (safetensors and JSON only)."""
    config = read_config(run, "music")
    try:
        data = config["data"]
        model = PianoRollModel.from_config(config["model"])
        opts = {k: data.get(k, v) for k, v in DATA_DEFAULTS.items()}
        opts["files"] = data.get("files")
        frequencies = np.asarray(data["key_frequencies"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise RnnkitError(f"{Path(run) / 'config.json'}: the music model's configuration is malformed ({e})") from None
    if frequencies.shape != (KEYS,):
        raise RnnkitError(f"{Path(run) / 'config.json'}: key_frequencies must hold {KEYS} numbers")
    load_model_weights(model, weights_path(run, checkpoint))
    return LoadedRun(model.to(device).eval(), opts, config, frequencies)


def read_for(loaded: LoadedRun, files, args, split: str) -> list[Piece]:
    """Pieces of ``files`` (the default corpus's ``split`` for a run trained on it, without files), read at the
    run's resolution unless the flags say otherwise."""
    opts = dict(loaded.opts)
    for key in ("format", "resolution"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    if not files:
        if loaded.opts.get("files"):
            raise RnnkitError("give --data FILE: this run was trained on " + ", ".join(loaded.opts["files"]))
        return default_chorales(default_cache_dir(), parse_resolution(opts["resolution"]))[split]
    return _read(files, opts, split)


__all__ = ["LoadedRun", "MusicObjective", "MusicTask", "load_run", "read_for", "roll_batches", "score",
           "training_pieces", "transpose_rolls"]
