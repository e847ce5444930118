"""``rnnkit speech train | eval | transcribe``: the verbs (the flags are in :mod:`rnnkit.cli.speech`)."""

from __future__ import annotations

import json
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
    words = None
    if args.lexicon == "train":
        words = loaded.words
        if not words:
            raise RnnkitError(f"{args.run}: the run keeps no training words (words.txt); give --lexicon FILE")
    elif args.lexicon:
        path = Path(args.lexicon)
        if not path.is_file():
            raise RnnkitError(f"--lexicon {args.lexicon}: no such file; give a file with one word per line, or "
                              "'train'")
        words = sorted({w for line in path.read_text(encoding="utf-8").splitlines() for w in line.split()})
        if not words:
            raise RnnkitError(f"--lexicon {args.lexicon}: the file holds no words")
    if words and loaded.units.kind == "char":
        missing = sorted({c for w in words for c in w if loaded.units.labels(c) is None})
        if missing:
            raise RnnkitError(f"--lexicon: words use characters the model has no symbol for "
                              f"({', '.join(map(repr, missing[:5]))}); remove those words")
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
    for i in range(len(utterances)):
        print(json.dumps(rows[i], ensure_ascii=False), flush=True)
    return 0
