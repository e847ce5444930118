"""Sequence tagging (many-to-many, ``T_x = T_y``): files → sentences → word ids and letters → Tagger.

What is particular to the task lives here and in :mod:`rnnkit.tasks.tag_data`: the defaults, the objective
(each sentence's ``−log P(y | x)`` under the CRF, or its summed cross-entropy), the validation metrics (entity
precision, recall and F1 as ``conlleval`` counts, token accuracy; the best checkpoint is the highest entity
F1), and loading a run for ``eval`` and ``predict``. Training itself is the shared trainer's.

Tags are read in the scheme of the training data (IOB1, IOB2, BIOES, detected or ``--scheme``), predicted in
BIOES, and written back, and scored, in the input's scheme.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data import Vocab
from rnnkit.data.embeddings import fill_embedding
from rnnkit.data.examples import Batch, ExampleBatches
from rnnkit.data.formats.tagged import TaggedSet, read_tagged
from rnnkit.data.schemes import SCHEMES, chunks
from rnnkit.errors import RnnkitError
from rnnkit.models.tagger import Tagger, WordChars
from rnnkit.tasks.classify_data import split_examples
from rnnkit.tasks.tag_data import (
    EncodedTags,
    TagEncoder,
    build_vocabs,
    input_scheme,
    model_scheme,
    tag_batches,
    tag_names_of,
)
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.driver import Prepared, data_files, once_an_epoch, resolve_options
from rnnkit.training.run import read_config, weights_path
from rnnkit.training.trainer import load_model_weights

MODEL_KEYS = ("cell", "hidden", "layers", "dropout", "decoder", "embedding", "chars", "char_embedding",
              "char_hidden", "unk_replace", "word_dropout")
MODEL_DEFAULTS = {"cell": "lstm", "hidden": 128, "layers": 1, "dropout": 0.5, "decoder": "crf", "embedding": 100,
                  "chars": True, "char_embedding": 50, "char_hidden": 50, "unk_replace": 0.5, "word_dropout": 0.0}
TAG_TRAIN_DEFAULTS = TrainConfig(steps=100_000, epochs=30, batch_size=16, lr=2e-3, schedule="cosine", warmup=50,
                                 clip_norm=5.0, patience=6, eval_every=100, save_every=100, sample_length=0,
                                 log_every=10)
EVAL_EVERY_MIN, EVAL_EVERY_MAX = 20, 1000
TOKEN_BUDGET, MIN_EPOCHS = 3_000_000, 10


def default_epochs(train_tokens: int) -> int:
    """Passes over the training data: as many as make ``TOKEN_BUDGET`` tokens, between ``MIN_EPOCHS`` and
    ``TAG_TRAIN_DEFAULTS.epochs`` (30). A CoNLL-2003-sized corpus (about 200,000 tokens) gets 15 epochs, about
    20 minutes on 2 CPU cores at the ~2,600 tokens/s measured there; a WNUT-17-sized one (60,000) 30 (README.md,
    "Choosing the tagging defaults")."""
    return int(min(TAG_TRAIN_DEFAULTS.epochs, max(MIN_EPOCHS, round(TOKEN_BUDGET / max(1, train_tokens)))))


# --- the objective ----------------------------------------------------------------------------------------

def _chars(batch: Batch) -> WordChars | None:
    if "char_ids" not in batch.extra:
        return None
    return WordChars(batch.extra["char_ids"], batch.extra["char_lengths"], batch.extra["char_rows"])


class TagObjective:
    """Each sentence's loss, averaged over the global batch's sentences; validation by entity F1."""

    monitor, higher_is_better, carries_state, unit = "f1", True, False, "sentences"

    def __init__(self, encoder: TagEncoder, gold: list[tuple[str, ...]] | None = None):
        self.encoder, self.gold = encoder, gold

    def train_loss(self, net, batch: Batch, carry):
        losses = net(batch.inputs, batch.lengths, _chars(batch), batch.targets)          # (B,)
        return losses.sum() * (dist.world_size() / batch.global_size), None

    def count(self, batch: Batch) -> int:
        return len(batch)

    def carry_shapes(self):
        return None

    @torch.no_grad()
    def evaluate(self, model, batches, limit: int | None = None) -> dict:
        out = predict_batches(model, batches, limit)
        return metrics_of(out, self.encoder, self.gold, with_report=False)


@torch.no_grad()
def predict_batches(model: Tagger, batches: ExampleBatches, limit: int | None = None) -> dict:
    """Every sentence's predicted tag ids (and loss, when tagged), in the data set's order."""
    model.eval()
    device = next(model.parameters()).device
    n = batches.num_examples
    paths: list[list[int] | None] = [None] * n
    losses = np.zeros(n, dtype=np.float64)
    for k, batch in enumerate(batches.iter_from(0)):
        if limit is not None and k >= limit:
            break
        batch = batch.to(device)
        emissions = model(batch.inputs, batch.lengths, _chars(batch))
        idx = batch.index.tolist()
        for i, p in zip(idx, model.decode(emissions, batch.lengths)):
            paths[i] = p
        if batch.targets is not None:
            losses[idx] = model.loss(emissions, batch.targets, batch.lengths).double().cpu().numpy()
    seen = [i for i, p in enumerate(paths) if p is not None]
    return {"paths": [paths[i] for i in seen], "loss": losses[seen], "index": seen}


def metrics_of(out: dict, encoder: TagEncoder, gold: list[tuple[str, ...]], with_report: bool = True) -> dict:
    """Loss, entity precision / recall / F1 and token accuracy (+ the per-type report) of predictions."""
    from rnnkit.metrics.tagging import entity_report

    predicted = encoder.decode(out["paths"])
    true = [gold[i] for i in out["index"]]
    report = entity_report(true, predicted, encoder.scheme)
    result = {"loss": float(np.mean(out["loss"])) if len(out["loss"]) else float("nan"),
              "precision": report["precision"], "recall": report["recall"], "f1": report["f1"],
              "token_accuracy": report["token_accuracy"]}
    if with_report:
        result["report"] = report
        result["predicted"] = predicted
    return result


# --- training -------------------------------------------------------------------------------------------

class TagTask:
    """``rnnkit tag train``."""

    name = "tag"
    defaults = TAG_TRAIN_DEFAULTS
    model_flags = MODEL_KEYS

    def prepare(self, args, saved, run, config, device) -> Prepared:
        opts = _options(args, saved["data"] if saved else None)
        files, valid_files = data_files(args, saved, "conll, jsonl or npz")
        train_set = read_set(files, opts)
        sentences = train_set.sentences
        where = ", ".join(map(str, files))
        if saved is None:                       # the scheme of (and every tag in) the whole training file
            opts["scheme"] = input_scheme(sentences, opts["scheme"], where)
        if valid_files:
            valid_set = read_set(valid_files, opts)
            if valid_set.kind != train_set.kind:
                raise RnnkitError(f"{', '.join(map(str, valid_files))}: the validation data holds "
                                  f"{valid_set.kind}, the training data {train_set.kind}; give files of one kind")
            valid = valid_set.sentences
        else:
            sentences, valid = split_examples(sentences, opts["valid_fraction"], config.seed)
        m = resolve_options(MODEL_DEFAULTS, args, saved["data"] if saved else None)
        words = train_set.kind == "text"
        if saved:
            tag_names = list(saved["data"]["tag_names"])
            vocab = Vocab.load(run / "vocab.json") if words else None
            chars = Vocab.load(run / "chars.json") if words and m["chars"] else None
            counts = None
        else:
            tag_names = tag_names_of(sentences, opts["scheme"])
            vocab, chars, counts = build_vocabs(sentences, opts, m["chars"]) if words else (None, None, None)
        encoder = TagEncoder(opts, tag_names, vocab, chars, train_set.num_features)
        train_enc = encoder.encode(sentences)
        valid_enc = encoder.encode(valid) if valid else None
        model = Tagger(tag_names, model_scheme(opts["scheme"]), m["hidden"], m["layers"], m["cell"],
                       dropout=m["dropout"], decoder=m["decoder"],
                       vocab_size=len(vocab) if vocab is not None else None, embedding_size=m["embedding"],
                       unk_id=vocab.unk_id if vocab is not None else None,
                       unk_replace=m["unk_replace"] if vocab is not None else 0.0,
                       word_dropout=m["word_dropout"] if vocab is not None else 0.0,
                       char_vocab_size=len(chars) if chars is not None else None,
                       char_embedding=m["char_embedding"], char_hidden=m["char_hidden"],
                       num_features=train_set.num_features)
        if vocab is not None and counts is not None:
            with torch.no_grad():               # words seen once: replaced by <UNK> now and then in training
                for w, c in counts.items():
                    if c == 1 and w in vocab.stoi:
                        model.rare[vocab.stoi[w]] = True
        if model.features is not None:
            model.features.fit(train_enc.inputs)
        if words and getattr(args, "embeddings", None) and not saved:
            fill_embedding(model.embedding, list(vocab.tokens), args.embeddings)
        model = model.to(device)
        train_batches = tag_batches(train_enc, encoder, config.batch_size, shuffle=True, seed=config.seed,
                                    rank=dist.rank(), world_size=dist.world_size())
        if not saved:
            once_an_epoch(config, args, len(train_batches), EVAL_EVERY_MIN, EVAL_EVERY_MAX)
            if args.epochs is None:
                config.epochs = default_epochs(sum(len(x) for x in train_enc.inputs))
        config.validate()
        valid_batches = tag_batches(valid_enc, encoder, 64) if valid_enc is not None else None
        data = {**opts, **m, "files": [str(f) for f in files],
                "valid_files": [str(f) for f in valid_files] if valid_files else None, "kind": train_set.kind,
                "tag_names": tag_names, "num_features": train_set.num_features,
                "train_sentences": len(sentences), "valid_sentences": len(valid)}
        n_tokens = sum(len(x) for x in train_enc.inputs)
        types = sorted({c[0] for s in sentences for c in chunks(s.tags, opts["scheme"])})
        what = (f"{len(vocab):,} words, {len(chars):,} letters" if chars is not None else
                f"{len(vocab):,} words" if vocab is not None else f"{train_set.num_features} features per step")
        description = (f"{where}\n  {len(sentences):,} training sentences ({n_tokens:,} tokens) and {len(valid):,} "
                       f"validation sentences; tags in {opts['scheme'].upper()}, {len(types)} types "
                       f"({', '.join(types[:8])}{' …' if len(types) > 8 else ''}); {what}; bidirectional "
                       f"{m['cell']} {m['layers']}×{m['hidden']}, {m['decoder']} decoder")
        files_out = {}
        if vocab is not None:
            files_out["vocab.json"] = vocab.save
        if chars is not None:
            files_out["chars.json"] = chars.save
        return Prepared(model, train_batches, valid_batches,
                        TagObjective(encoder, valid_enc.gold if valid_enc is not None else None),
                        {"model": asdict(model.config), "data": data}, files=files_out, description=description)


DATA_DEFAULTS = {"format": None, "token_column": None, "tag_column": None, "scheme": None, "lower": False,
                 "zeros": False, "min_freq": 1, "valid_fraction": 0.1}


def _options(args, saved: dict | None) -> dict:
    opts = resolve_options(DATA_DEFAULTS, args, saved)
    if opts["scheme"] is not None and opts["scheme"] not in SCHEMES:
        raise RnnkitError(f"--scheme must be one of {', '.join(SCHEMES)}, got {opts['scheme']!r}")
    if not 0 <= opts["valid_fraction"] < 1:
        raise RnnkitError(f"--valid-fraction must be in [0, 1), got {opts['valid_fraction']}")
    return opts


def read_set(files, opts: dict, require_tags: bool = True) -> TaggedSet:
    return read_tagged(files, opts["format"], token_column=opts["token_column"], tag_column=opts["tag_column"],
                       require_tags=require_tags)


# --- using a trained run --------------------------------------------------------------------------------

@dataclass
class LoadedRun:
    model: Tagger
    encoder: TagEncoder
    opts: dict
    config: dict


def load_run(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """The model and encoder of a ``tag train`` run (safetensors and JSON only)."""
    config = read_config(run, "tag")
    run = Path(run)
    try:
        data, model = config["data"], Tagger.from_config(config["model"])
        vocab = Vocab.load(run / "vocab.json") if data["kind"] == "text" else None
        chars = Vocab.load(run / "chars.json") if data["kind"] == "text" and data.get("chars") else None
        opts = {k: data.get(k) for k in DATA_DEFAULTS}
        encoder = TagEncoder(opts, list(data["tag_names"]), vocab, chars, data.get("num_features"))
    except (KeyError, TypeError, ValueError) as e:
        raise RnnkitError(f"{run / 'config.json'}: the tagger configuration is malformed ({e})") from None
    if encoder.tag_names != model.tag_names:
        raise RnnkitError(f"{run}: config.json's tags differ from the model's; the files come from different runs")
    load_model_weights(model, weights_path(run, checkpoint))
    return LoadedRun(model.to(device).eval(), encoder, opts, config)


def read_for(loaded: LoadedRun, files, args, require_tags: bool) -> TaggedSet:
    """Read ``files`` as the run's training data was read, unless the flags say otherwise."""
    opts = dict(loaded.opts)
    for key in ("format", "token_column", "tag_column"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    if not require_tags and getattr(args, "format", None) is None:
        opts["format"] = None                   # predict: guessed per file (plain text unless conll/jsonl/npz)
    return read_set(files, opts, require_tags=require_tags)


def entities(tokens, tags: list[str], scheme: str) -> list[dict]:
    """The chunks of a predicted sentence as ``{"type", "start", "end", "text"}`` (token offsets, end
    exclusive)."""
    return [{"type": ty, "start": s, "end": e, "text": " ".join(tokens[s:e])} for ty, s, e in chunks(tags, scheme)]


__all__ = ["EncodedTags", "LoadedRun", "TagObjective", "TagTask", "entities", "load_run", "metrics_of",
           "predict_batches", "read_for", "read_set"]
