"""``rnnkit classify train | eval | predict``: the verbs (the flags are in :mod:`rnnkit.cli.classify`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnkit.cli.args import stdin_chunks
from rnnkit.data.examples import Example
from rnnkit.errors import RnnkitError
from rnnkit.tasks import classify as task
from rnnkit.training.driver import train as run_training
from rnnkit.training.optim import resolve_device


def train(args) -> int:
    return run_training(args, task.ClassifyTask())


def evaluate(args) -> int:
    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    data = task.read_for(loaded, args.data, args, require_labels=True)
    enc = loaded.encoder.encode(data.examples, ", ".join(args.data))
    multi = bool(loaded.opts["multi_label"])
    scores = task.predict_batches(loaded.model, task.example_batches(enc, args.batch_size, multi))
    result = task.metrics_of(scores, multi, loaded.model.num_classes)
    report = result.pop("report")
    names = loaded.encoder.label_names
    from rnnkit.metrics import format_report, plot_confusion

    print(f"{len(enc.sequences):,} examples of {', '.join(args.data)}; loss {result['loss']:.4f}")
    print(format_report(report, names))
    if not multi:
        picture = Path(args.confusion_png) if args.confusion_png else (
            Path(args.run) / f"confusion-{Path(args.data[0]).name.replace('.', '_')}.png")
        if plot_confusion(report["confusion"], names, picture,
                          title=f"{Path(args.data[0]).name}: accuracy {result['accuracy']:.3f}"):
            print(f"confusion matrix: {picture}")
    if args.json:
        print(json.dumps({**result, "examples": len(enc.sequences)}))
    return 0


def predict(args) -> int:
    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    files = [f for f in args.files if f != "-"]
    if files:
        data = task.read_for(loaded, files, args, require_labels=False)
        _predict(loaded, data.examples, args)
    if not args.files or "-" in args.files:
        if loaded.encoder.vocab is None:
            raise RnnkitError("this model reads feature vectors: give an npz or ts FILE (standard input holds "
                              "only text, one example per line)")
        for chunk in stdin_chunks(lambda line, where: Example(line.rstrip("\n"), None, where)
                                  if line.strip() else None):
            _predict(loaded, chunk, args)
    return 0


def _predict(loaded: task.LoadedRun, examples: list[Example], args) -> None:
    enc = loaded.encoder.encode(examples, "input", labelled=False)
    multi = bool(loaded.opts["multi_label"])
    scores = task.predict_batches(loaded.model, task.example_batches(enc, args.batch_size, multi))
    probs = task.probabilities(scores["logits"], multi)
    names = loaded.encoder.label_names
    for row in probs:                                  # predict_batches returns the examples in input order
        order = np.argsort(-row, kind="stable")
        shown = order[: args.top] if args.top else order
        probabilities = {names[i]: round(float(row[i]), 6) for i in shown}
        label = [names[i] for i in order if row[i] >= args.threshold] if multi else names[int(order[0])]
        print(json.dumps({"label": label, "probabilities": probabilities}, ensure_ascii=False), flush=True)
