"""``rnnkit music train | eval | generate``: the verbs (the flags are in :mod:`rnnkit.cli.music`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rnnkit.errors import RnnkitError
from rnnkit.tasks import music as task
from rnnkit.training.driver import train as run_training
from rnnkit.training.optim import resolve_device


def train(args) -> int:
    return run_training(args, task.MusicTask())


def evaluate(args) -> int:
    from rnnkit.metrics.music import bernoulli_nll

    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    split = args.split or "test"
    pieces = task.read_for(loaded, args.data, args, split)
    result = task.score(loaded.model, task.roll_batches(pieces, args.batch_size))
    baseline = bernoulli_nll(loaded.frequencies, [p.roll for p in pieces])
    where = ", ".join(args.data) if args.data else f"{task.DEFAULT_CORPUS} ({split})"
    print(f"{len(pieces):,} pieces of {where}, {result['frames']:,} scored frames")
    print(f"negative log-likelihood per frame {result['nll_per_frame']:.4f} nats "
          f"(independent Bernoulli per key {baseline:.4f}); frame accuracy {result['frame_accuracy']:.4f}")
    if args.json:
        print(json.dumps({"nll_per_frame": result["nll_per_frame"], "frame_accuracy": result["frame_accuracy"],
                          "bernoulli_nll_per_frame": baseline, "frames": result["frames"], "pieces": len(pieces)}))
    return 0


def generate(args) -> int:
    from rnnkit.data.formats.music import write_midi
    from rnnkit.metrics.music import plot_piano_roll

    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    primer = None
    if args.primer:
        primer = torch.from_numpy(task.read_for(loaded, [args.primer], args, args.split or "train")[0].roll)
        if len(primer) > args.length:
            raise RnnkitError(f"--primer {args.primer} has {len(primer)} frames, more than --length {args.length}; "
                              f"give --length of at least {len(primer)}")
    generator = torch.Generator().manual_seed(args.seed)
    rolls = loaded.model.generate(args.num, args.length, primer, args.temperature, args.max_polyphony, generator)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"--out {out} is a file; give a folder for the pieces")
    out.mkdir(parents=True, exist_ok=True)
    resolution, width = loaded.resolution, len(str(args.num))
    for i, roll in enumerate(rolls.cpu().numpy(), 1):
        stem = out / f"piece-{i:0{width}d}"
        write_midi(roll, stem.with_suffix(".mid"), resolution, args.bpm)
        drew = plot_piano_roll(roll, stem.with_suffix(".png"), resolution=resolution,
                               primer=0 if primer is None else len(primer),
                               title=f"{Path(args.run).name}: piece {i}, temperature {args.temperature:g}")
        print(json.dumps({"midi": str(stem.with_suffix(".mid")), "png": str(stem.with_suffix(".png")) if drew else None,
                          "frames": int(len(roll)), "notes_per_frame": float(roll.sum(axis=1).mean())}), flush=True)
    return 0
