"""``rnnkit tag train | eval | predict``: the verbs (the flags are in :mod:`rnnkit.cli.tag`)."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.cli.args import stdin_chunks
from rnnkit.data.formats.tagged import Sentence, text_sentence
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open
from rnnkit.tasks import tag as task
from rnnkit.tasks.tag_data import tag_batches
from rnnkit.training.driver import train as run_training
from rnnkit.training.optim import resolve_device


def train(args) -> int:
    return run_training(args, task.TagTask())


def evaluate(args) -> int:
    from rnnkit.metrics.tagging import format_entity_report

    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    data = task.read_for(loaded, args.data, args, require_tags=True)
    enc = loaded.encoder.encode(data.sentences)
    out = task.predict_batches(loaded.model, tag_batches(enc, loaded.encoder, args.batch_size))
    result = task.metrics_of(out, loaded.encoder, enc.gold)
    report, predicted = result.pop("report"), result.pop("predicted")
    print(f"{len(enc.inputs):,} sentences of {', '.join(args.data)}; tags in {loaded.encoder.scheme.upper()}; "
          f"loss {result['loss']:.4f}")
    print(format_entity_report(report))
    if data.kind == "text" and loaded.encoder.scheme != "none":
        from rnnkit.metrics import plot_confusion
        from rnnkit.metrics.tagging import entity_confusion

        C, names = entity_confusion(enc.gold, predicted, loaded.encoder.scheme)
        picture = Path(args.confusion_png) if args.confusion_png else (
            Path(args.run) / f"entities-{Path(args.data[0]).name.replace('.', '_')}.png")
        if len(names) > 1 and plot_confusion(C, names, picture, title=f"{Path(args.data[0]).name}: entity F1 "
                                             f"{result['f1']:.3f} (true type down, predicted across)"):
            print(f"entity types, true against predicted: {picture}")
    if args.output:
        if data.kind != "text":
            raise RnnkitError("--output writes tokens in CoNLL columns; this data holds feature vectors")
        with atomic_open(args.output, "w") as f:
            for s, tags in zip(data.sentences, predicted):
                for token, gold, guess in zip(s.tokens, s.tags, tags):
                    f.write(f"{token} {gold} {guess}\n")
                f.write("\n")
        print(f"predictions: {args.output}")
    if args.json:
        print(json.dumps({**result, "sentences": len(enc.inputs), "entities": report["support"]}))
    return 0


def predict(args) -> int:
    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    files = [f for f in args.files if f != "-"]
    if files:
        data = task.read_for(loaded, files, args, require_tags=False)
        _predict(loaded, data.sentences, args)
    if not args.files or "-" in args.files:
        if loaded.encoder.vocab is None:
            raise RnnkitError("this model reads feature vectors: give an npz FILE (standard input holds only "
                              "text, one sentence per line)")
        for chunk in stdin_chunks(text_sentence):
            _predict(loaded, chunk, args)
    return 0


def _predict(loaded: task.LoadedRun, sentences: list[Sentence], args) -> None:
    enc = loaded.encoder.encode(sentences, labelled=False)
    out = task.predict_batches(loaded.model, tag_batches(enc, loaded.encoder, args.batch_size))
    scheme = loaded.encoder.scheme
    for s, tags in zip(sentences, loaded.encoder.decode(out["paths"])):   # in input order
        if isinstance(s.tokens, tuple):
            row = {"tokens": list(s.tokens), "tags": tags, "entities": task.entities(s.tokens, tags, scheme)}
        else:
            row = {"tags": tags}
        print(json.dumps(row, ensure_ascii=False), flush=True)
