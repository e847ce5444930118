"""Sequence classification (many-to-one): files → examples → ids or features → length buckets → Classifier.

What is particular to the task lives here and in :mod:`rnnkit.tasks.classify_data` (examples into arrays:
tokens at ``char``, ``word`` or ``kmer`` level and a vocabulary, or feature vectors; label names): the
defaults, the objective (cross-entropy, or the logistic loss per label with ``multi_label``), the validation
metrics (accuracy, macro-F1; the best checkpoint is the highest validation accuracy, or macro-F1 for
multi-label), and loading a run for ``eval`` and ``predict``. Training itself is the shared trainer's.

Defaults adapt to the input by the rule of :func:`default_settings` (measured; see README.md, "Choosing the
classification defaults").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data import Vocab
from rnnkit.data.embeddings import fill_embedding
from rnnkit.data.examples import Batch, ExampleBatches
from rnnkit.data.formats import ExampleSet
from rnnkit.errors import RnnkitError
from rnnkit.models import Classifier
from rnnkit.tasks.classify_data import (  # noqa: F401  (example_batches: used by the eval and predict verbs)
    Encoder,
    build_vocab,
    example_batches,
    label_names_of,
    read_set,
    split_examples,
    text_tokens,
)
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.driver import Prepared, data_files, once_an_epoch, resolve_options
from rnnkit.training.run import read_config, weights_path
from rnnkit.training.trainer import load_model_weights

LEVELS = ("char", "word", "kmer")
# Data options saved in config.json["data"]: how new files are read and encoded the same way.
DATA_KEYS = ("format", "text_column", "label_column", "multi_label", "level", "k", "lower", "min_freq",
             "max_vocab", "valid_fraction", "labels_file")
MODEL_KEYS = ("cell", "hidden", "layers", "bidirectional", "pooling", "dropout", "embedding", "one_hot",
              "input_projection", "center_joint", "deltas", "positions", "input_noise", "input_dropout",
              "time_warp", "scale_jitter")
CLASSIFY_TRAIN_DEFAULTS = TrainConfig(steps=100_000, epochs=20, batch_size=32, lr=2e-3, schedule="cosine",
                                      warmup=50, clip_norm=5.0, patience=6, eval_every=100, save_every=100,
                                      sample_length=0, log_every=10)


def default_settings(kind: str, level: str | None, num_examples: int) -> dict:
    """The defaults for this input (model, batch size, patience), by a fixed rule (measurements: README.md,
    "Choosing the classification defaults"):

    - words: a 1-layer bidirectional LSTM, H = 128 over 128-d embeddings, max pooling, dropout 0.5, and 0.3
      of the words dropped (their vectors zeroed) while training;
    - characters, bases and k-mers: a 1-layer bidirectional LSTM, H = 128 over 32-d embeddings, attention
      pooling, dropout 0.3; when every training sequence has the same length (fixed windows), a learned
      vector per position added to the inputs;
    - feature vectors: frame differences appended, standardised; a 2-layer bidirectional LSTM, H = 128, mean
      pooling, dropout 0.3; below ``SMALL_DATA`` examples a 1-layer one, H = 64, max pooling, 0.3 input
      dropout, sequences augmented while training (``time_warp`` 0.1, ``scale_jitter`` 0.3: each played at its
      own speed and scaled about its mean) and no early stopping (a validation split of so few examples is
      too small to stop on: MSR Action3D's reaches accuracy 1.0 within 200 steps);
    - the batch is 32 examples, 64 for data sets of more than 20,000 examples; 20 epochs, or as many as make
      ``MIN_STEPS`` steps on small data sets, with early stopping after 6 evaluations without a better
      validation accuracy; evaluation and checkpoints come once per epoch (at least every ``EVAL_EVERY_MIN``,
      at most every ``EVAL_EVERY_MAX`` steps).
    """
    patience = 6
    if kind == "features" and num_examples < SMALL_DATA:
        model = {"cell": "lstm", "hidden": 64, "layers": 1, "bidirectional": True, "pooling": "max",
                 "dropout": 0.3, "deltas": True, "input_dropout": 0.3, "time_warp": 0.1, "scale_jitter": 0.3}
        patience = None
    elif kind == "features":
        model = {"cell": "lstm", "hidden": 128, "layers": 2, "bidirectional": True, "pooling": "mean",
                 "dropout": 0.3, "deltas": True}
    elif level == "word":
        model = {"cell": "lstm", "hidden": 128, "layers": 1, "bidirectional": True, "pooling": "max",
                 "dropout": 0.5, "embedding": 128, "input_dropout": 0.3}
    else:
        model = {"cell": "lstm", "hidden": 128, "layers": 1, "bidirectional": True, "pooling": "attention",
                 "dropout": 0.3, "embedding": 32}
    return {"model": model, "batch_size": 64 if num_examples > 20_000 else 32, "patience": patience}


SMALL_DATA = 1000
EVAL_EVERY_MIN, EVAL_EVERY_MAX = 20, 500
MIN_STEPS = 1500


# --- the objective ----------------------------------------------------------------------------------------

class ClassifyObjective:
    """Cross-entropy (or the logistic loss per label) averaged over the global batch's examples."""

    higher_is_better, carries_state, unit = True, False, "examples"

    def __init__(self, label_names: list[str], multi_label: bool):
        self.label_names, self.multi_label = label_names, multi_label
        self.monitor = "macro_f1" if multi_label else "accuracy"

    def train_loss(self, net, batch: Batch, carry):
        logits = net(batch.inputs, batch.lengths)
        model = getattr(net, "module", net)
        # Σ over this process's examples / the global batch size, × processes: DDP's average of these is the
        # mean over the global batch, exactly what one process computes.
        loss = model.loss(logits, batch.targets, reduction="sum") * (dist.world_size() / batch.global_size)
        return loss, None

    def count(self, batch: Batch) -> int:
        return len(batch)

    def carry_shapes(self):
        return None

    @torch.no_grad()
    def evaluate(self, model, batches, limit: int | None = None) -> dict:
        scores = predict_batches(model, batches, limit)
        return metrics_of(scores, self.multi_label, len(self.label_names), with_report=False)


@torch.no_grad()
def predict_batches(model: Classifier, batches: ExampleBatches, limit: int | None = None) -> dict:
    """Logits, losses and targets of every example, in the data set's order: a dict of arrays."""
    model.eval()
    device = next(model.parameters()).device
    n = batches.num_examples
    K = model.num_classes
    logits = np.zeros((n, K), dtype=np.float32)
    losses = np.zeros(n, dtype=np.float64)
    seen = np.zeros(n, dtype=bool)
    targets = None
    for k, batch in enumerate(batches.iter_from(0)):
        if limit is not None and k >= limit:
            break
        batch = batch.to(device)
        z = model(batch.inputs, batch.lengths)
        idx = batch.index.numpy()
        logits[idx] = z.float().cpu().numpy()
        seen[idx] = True
        if batch.targets is not None:
            if targets is None:
                targets = np.zeros((n, K) if model.config.multi_label else n,
                                   dtype=np.float32 if model.config.multi_label else np.int64)
            losses[idx] = model.loss(z, batch.targets, reduction="none").double().cpu().numpy()
            targets[idx] = batch.targets.cpu().numpy()
    return {"logits": logits[seen], "loss": losses[seen], "targets": None if targets is None else targets[seen],
            "index": np.nonzero(seen)[0]}


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    z = torch.from_numpy(logits)
    return (torch.sigmoid(z) if multi_label else torch.softmax(z, dim=-1)).numpy()


def metrics_of(scores: dict, multi_label: bool, num_classes: int, with_report: bool = True) -> dict:
    """Validation or test metrics of :func:`predict_batches`'s output: loss, accuracy, macro-F1 (+ the report)."""
    from rnnkit.metrics import classification_report, multilabel_report

    logits, targets = scores["logits"], scores["targets"]
    if multi_label:
        report = multilabel_report(targets.astype(bool), logits > 0)
    else:
        report = classification_report(targets, logits.argmax(1), num_classes)
    out = {"loss": float(scores["loss"].mean()), "accuracy": float(report["accuracy"]),
           "macro_f1": float(report["macro_f1"])}
    if with_report:
        out["report"] = report
    return out


# --- training -------------------------------------------------------------------------------------------

class ClassifyTask:
    """``rnnkit classify train``."""

    name = "classify"
    defaults = CLASSIFY_TRAIN_DEFAULTS
    model_flags = MODEL_KEYS

    def prepare(self, args, saved, run, config, device) -> Prepared:
        opts = _options(args, saved["data"] if saved else None)
        files, valid_files = data_files(args, saved, "csv, tsv, jsonl, sst, fasta, npz or ts")
        train_set = read_set(files, opts)
        kind = train_set.kind
        if kind == "features" and args.level is not None:
            raise RnnkitError("--level applies to text; this data holds feature vectors")
        train_ex = train_set.examples
        if valid_files:
            valid_set = read_set(valid_files, opts)
            if valid_set.kind != kind:
                raise RnnkitError(f"{', '.join(map(str, valid_files))}: the validation data holds {valid_set.kind}, "
                                  f"the training data {kind}; give files of the same kind")
            valid_ex = valid_set.examples
        else:
            train_ex, valid_ex = split_examples(train_ex, opts["valid_fraction"], config.seed)
        rule = default_settings(kind, opts["level"], len(train_ex))
        lengths = {len(e.sequence) for e in train_ex}
        if kind == "text" and len(lengths) == 1 and opts["level"] != "word":
            # Every sequence has the same length (fixed windows, such as 60 bases around a splice site):
            # positions mean something, so the model learns a vector per position.
            rule["model"]["positions"] = len(text_tokens(train_ex[0].sequence, opts["level"], opts["k"]))
        model_opts = _model_options(args, saved["data"] if saved else None, rule["model"], kind)
        if not saved:
            for key in ("batch_size", "patience"):
                if getattr(args, key, None) is None:
                    setattr(config, key, rule[key])
        if saved:
            label_names = list(saved["data"]["label_names"])
            vocab = Vocab.load(run / "vocab.json") if kind == "text" else None
        else:
            label_names = label_names_of(train_set, train_ex, opts["multi_label"], files)
            vocab = build_vocab(train_ex, opts) if kind == "text" else None
        num_features = train_set.num_features if kind == "features" else None
        encoder = Encoder(opts, label_names, vocab, num_features)
        train_enc = encoder.encode(train_ex, ", ".join(map(str, files)))
        valid_enc = encoder.encode(valid_ex, ", ".join(map(str, valid_files or files))) if valid_ex else None
        model = Classifier(len(label_names), model_opts["hidden"], model_opts["layers"], model_opts["cell"],
                           bidirectional=model_opts["bidirectional"], pooling=model_opts["pooling"],
                           dropout=model_opts["dropout"], multi_label=opts["multi_label"],
                           vocab_size=len(vocab) if vocab is not None else None,
                           embedding_size=model_opts["embedding"] if kind == "text" and not model_opts["one_hot"]
                           else None, one_hot=bool(model_opts["one_hot"]) and kind == "text",
                           num_features=num_features, input_projection=model_opts["input_projection"],
                           center_joint=model_opts["center_joint"], deltas=model_opts["deltas"],
                           positions=model_opts["positions"], input_noise=model_opts["input_noise"],
                           input_dropout=model_opts["input_dropout"], time_warp=model_opts["time_warp"],
                           scale_jitter=model_opts["scale_jitter"])
        if model.features is not None:
            model.features.fit(train_enc.sequences)       # standardisation learned on the training data
        found = None
        if kind == "text" and getattr(args, "embeddings", None) and not saved:
            found = fill_embedding(model.embedding, list(vocab.tokens), args.embeddings)
        model = model.to(device)
        train_batches = example_batches(train_enc, config.batch_size, opts["multi_label"], shuffle=True,
                                        seed=config.seed, rank=dist.rank(), world_size=dist.world_size())
        if not saved:                         # evaluate and save once an epoch, unless told otherwise
            once_an_epoch(config, args, len(train_batches), EVAL_EVERY_MIN, EVAL_EVERY_MAX)
            if args.epochs is None:           # small data sets get more epochs: at least MIN_STEPS steps
                config.epochs = max(config.epochs or 1, math.ceil(MIN_STEPS / len(train_batches)))
        config.validate()
        mean_length = float(np.mean([len(s) for s in train_enc.sequences]))
        valid_batches = (example_batches(valid_enc, max(config.batch_size, 64), opts["multi_label"])
                         if valid_enc is not None else None)
        data = {**opts, **model_opts, "files": [str(f) for f in files],
                "valid_files": [str(f) for f in valid_files] if valid_files else None, "kind": kind,
                "label_names": label_names, "num_features": num_features,
                "train_examples": len(train_ex), "valid_examples": len(valid_ex)}
        if found is not None:
            data["embeddings"] = {"file": str(args.embeddings), "found": found}
        what = (f"{len(vocab)} {opts['level']} tokens" if vocab is not None else f"{num_features} features per step")
        description = (f"{', '.join(map(str, files))}\n  {len(train_ex):,} training and {len(valid_ex):,} "
                       f"validation examples, {len(label_names)} classes, {what}, mean length {mean_length:.1f}; "
                       f"{'bidirectional ' if model_opts['bidirectional'] else ''}{model_opts['cell']} "
                       f"{model_opts['layers']}×{model_opts['hidden']}, {model_opts['pooling']} pooling")
        files_out = {"vocab.json": vocab.save} if vocab is not None else {}
        on_best = (_ConfusionPicture(label_names, valid_batches)
                   if valid_batches is not None and not opts["multi_label"] else None)
        return Prepared(model, train_batches, valid_batches, ClassifyObjective(label_names, opts["multi_label"]),
                        {"model": asdict(model.config), "data": data}, files=files_out, description=description,
                        on_best=on_best)


class _ConfusionPicture:
    """After each new best checkpoint, ``RUN/confusion.png``: the validation confusion matrix."""

    def __init__(self, label_names: list[str], batches):
        self.label_names, self.batches = label_names, batches

    def __call__(self, model, metrics, run_dir: Path) -> None:
        from rnnkit.metrics import classification_report, plot_confusion

        was_training = model.training
        scores = predict_batches(model, self.batches)
        model.train(was_training)
        report = classification_report(scores["targets"], scores["logits"].argmax(1), len(self.label_names))
        plot_confusion(report["confusion"], self.label_names, Path(run_dir) / "confusion.png",
                       title=f"validation, accuracy {report['accuracy']:.3f}")


def _options(args, saved: dict | None) -> dict:
    opts = resolve_options({"format": None, "text_column": None, "label_column": None, "multi_label": False,
                            "level": None, "k": 3, "lower": False, "min_freq": 1, "max_vocab": None,
                            "valid_fraction": 0.1, "labels_file": None}, args, saved)
    if opts["level"] is None:
        opts["level"] = "word"
    if opts["level"] not in LEVELS:
        raise RnnkitError(f"--level must be one of {', '.join(LEVELS)}, got {opts['level']!r}")
    if not 0 <= opts["valid_fraction"] < 1:
        raise RnnkitError(f"--valid-fraction must be in [0, 1), got {opts['valid_fraction']}")
    return opts


def _model_options(args, saved: dict | None, rule: dict, kind: str) -> dict:
    defaults = {"cell": "lstm", "hidden": 128, "layers": 1, "bidirectional": True, "pooling": "last",
                "dropout": 0.0, "embedding": None, "one_hot": False, "input_projection": None, "center_joint": None,
                "deltas": False, "positions": None, "input_noise": 0.0, "input_dropout": 0.0,
                "time_warp": 0.0, "scale_jitter": 0.0}
    opts = resolve_options({**defaults, **rule}, args, saved)
    if saved is not None:
        return opts
    if kind == "text" and opts["embedding"] == 0:
        opts["one_hot"], opts["embedding"] = True, None
    if opts["positions"] == 0:
        opts["positions"] = None
    return opts


# --- using a trained run --------------------------------------------------------------------------------

@dataclass
class LoadedRun:
    model: Classifier
    encoder: Encoder
    opts: dict
    config: dict


def load_run(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """The model and encoder of a ``classify train`` run (safetensors and JSON only)."""
    config = read_config(run, "classify")
    run = Path(run)
    try:
        data, model = config["data"], Classifier.from_config(config["model"])
        label_names = list(data["label_names"])
        vocab = Vocab.load(run / "vocab.json") if data["kind"] == "text" else None
        opts = {k: data.get(k) for k in DATA_KEYS}
        encoder = Encoder(opts, label_names, vocab, data.get("num_features"))
    except (KeyError, TypeError, ValueError) as e:
        raise RnnkitError(f"{run / 'config.json'}: the classifier configuration is malformed ({e})") from None
    if len(label_names) != model.num_classes:
        raise RnnkitError(f"{run}: the model has {model.num_classes} outputs but config.json names "
                          f"{len(label_names)} labels; the files come from different runs")
    load_model_weights(model, weights_path(run, checkpoint))
    return LoadedRun(model.to(device).eval(), encoder, opts, config)


def read_for(loaded: LoadedRun, files, args, require_labels: bool) -> ExampleSet:
    """Read ``files`` as the run's training data was read, unless the flags say otherwise."""
    opts = dict(loaded.opts)
    for key in ("format", "text_column", "label_column", "labels_file"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    return read_set(files, opts, require_labels=require_labels)
