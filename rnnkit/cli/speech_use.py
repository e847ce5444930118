"""``rnnkit speech train | eval | transcribe``: the verbs (the flags are in :mod:`rnnkit.cli.speech`)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

from rnnkit.data.formats.manifest import Utterance
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open
from rnnkit.tasks import speech as task
from rnnkit.training.driver import train as run_training
from rnnkit.training.optim import resolve_device


def train(args) -> int:
    return run_training(args, task.SpeechTask())


def _decoding(args, loaded: task.LoadedRun) -> task.Decoding:
    """``--beam`` and ``--lexicon``: auto (the training words when they look like a closed vocabulary: see
    :attr:`LoadedRun.closed_vocabulary`), train, none, or a file of words."""
    choice = args.lexicon or "auto"
    words = None
    if choice == "auto":
        words = sorted(loaded.words) if loaded.closed_vocabulary and loaded.units.kind == "char" else None
    elif choice == "train":
        words = sorted(loaded.words)
        if not words:
            raise RnnkitError(f"{args.run}: the run keeps no training words (words.txt); give --lexicon FILE")
    elif choice != "none":
        path = Path(choice)
        if not path.is_file():
            raise RnnkitError(f"--lexicon {choice}: no such file; give a file with one word per line, or auto, "
                              "train or none")
        words = sorted({w for line in path.read_text(encoding="utf-8").splitlines() for w in line.split()})
        if not words:
            raise RnnkitError(f"--lexicon {choice}: the file holds no words")
    if words and loaded.units.kind == "char":
        missing = sorted({c for w in words for c in w if loaded.units.labels(c) is None})
        if missing:
            raise RnnkitError(f"--lexicon: words use characters the model has no symbol for "
                              f"({', '.join(map(repr, missing[:5]))}); remove those words")
    if loaded.units.kind == "word":
        words = None                                # every output already is a training word
    return task.Decoding(beam=max(args.beam, 8 if words else 1), words=words)


def evaluate(args) -> int:
    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    utterances = task.read_for(loaded, args.data, args, require_transcript=True)
    batches = task.data_for(loaded, utterances, args.batch_size)
    how = _decoding(args, loaded)
    start = time.perf_counter()
    out = task.transcribe_batches(loaded.model, batches, loaded.units, how, with_loss=True)
    seconds = time.perf_counter() - start
    result = task.metrics_of(out, batches.data.transcripts)
    audio = sum(len(w) for w in batches.data.waves) / loaded.rate
    way = "greedy" if how.beam <= 1 else f"beam {how.beam}" + (", lexicon" if how.words else "")
    print(f"{len(utterances):,} recordings ({audio / 60:.1f} min) of {', '.join(args.data)}, {way}: WER "
          f"{result['wer']:.4f}, CER {result['cer']:.4f}; real-time factor {seconds / max(audio, 1e-9):.4f}")
    if args.output:
        texts = dict(zip(out["index"], out["texts"]))
        with atomic_open(args.output, "w", encoding="utf-8") as f:
            for i, u in enumerate(utterances):
                f.write(f"{u.path}\t{u.transcript}\t{texts.get(i, '')}\n")
        print(f"transcripts: {args.output}")
    if args.json:
        if not math.isfinite(result["loss"]):
            result["loss"] = None                   # no transcript had a CTC path in its frames
        print(json.dumps({**result, "utterances": len(utterances), "audio_seconds": round(audio, 2),
                          "real_time_factor": seconds / max(audio, 1e-9)}))
    return 0


def transcribe(args) -> int:
    from rnnkit.models.ctc_decoding import alignment_times, word_times

    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    how = _decoding(args, loaded)
    utterances = [Utterance(Path(f), None, str(f)) for f in args.files]
    batches = task.data_for(loaded, utterances, args.batch_size)
    model, units = loaded.model, loaded.units
    device = next(model.parameters()).device
    decode = task.make_decoder(units, how)
    frame_seconds = loaded.features.front_end.config.hop_length * model.config.stride / loaded.rate
    rows: dict[int, dict] = {}
    with torch.no_grad():
        for batch in batches.iter_from(0):
            batch = batch.to(device)
            log_probs, frames = model(batch.inputs, batch.lengths)
            for j, (i, labels) in enumerate(zip(batch.index.tolist(), decode(log_probs, frames))):
                lp = log_probs[j, :int(frames[j])].cpu()
                times = alignment_times(lp, labels, frame_seconds) if labels else []
                rows[i] = {"path": str(utterances[i].path), "text": units.text(labels),
                           "words": word_times(labels, units.symbols, times)}
                if args.png:
                    rows[i]["png"] = _draw(loaded, batch, j, lp, rows[i], frame_seconds, Path(args.png))
    for i in range(len(utterances)):
        print(json.dumps(rows[i], ensure_ascii=False), flush=True)
    return 0


def _draw(loaded: task.LoadedRun, batch, j: int, log_probs, row: dict, frame_seconds: float, folder: Path):
    from rnnkit.metrics.speech import plot_alignment

    fe = loaded.features.front_end.config
    path = folder / f"{Path(row['path']).stem}.png"
    feats = batch.inputs[j, :int(batch.lengths[j])].cpu().numpy()
    if not plot_alignment(feats, log_probs.numpy(), loaded.units.symbols, row["words"], frame_seconds,
                          fe.hop_length / fe.sample_rate, path, title=f"{Path(row['path']).name}: {row['text']!r}"):
        print("rnnkit: warning: --png needs matplotlib (pip install 'rnnkit[plot]')", file=sys.stderr)
        return None
    return str(path)
