"""Translation (many-to-many, ``T_x ≠ T_y``): files → sentence pairs → tokens and ids → Seq2Seq.

What is particular to the task lives here: the defaults, the segmenters and vocabularies of each side (char,
word or sentencepiece subwords, separate or shared), the objective (each sentence's teacher-forced
``−log P(y | x)``, optionally label-smoothed, averaged over the global batch's sentences), the validation
metrics (sacrebleu corpus BLEU, chrF, exact match of greedy translations; the best checkpoint is the highest
BLEU), and loading a run for ``eval`` and ``predict``. Training itself is the shared trainer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data import Vocab
from rnnkit.data.examples import Batch, ExampleBatches, pad_sequences
from rnnkit.data.formats.pairs import Pair, read_pairs
from rnnkit.data.segment import LEVELS, Segmenter, make_segmenter
from rnnkit.data.tokenize import EOS
from rnnkit.data.vocab import UNK
from rnnkit.errors import RnnkitError
from rnnkit.models.seq2seq import ATTENTIONS, Hypothesis, Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.classify_data import split_examples
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.driver import Prepared, data_files, once_an_epoch, resolve_options
from rnnkit.training.run import read_config, weights_path
from rnnkit.training.trainer import load_model_weights

MODEL_KEYS = ("cell", "hidden", "layers", "decoder_layers", "embedding", "bidirectional", "attention",
              "input_feeding", "dropout", "tie_embeddings", "level", "source_level", "target_level", "vocab_size",
              "shared_vocab", "min_freq")
MODEL_DEFAULTS = {"cell": "gru", "hidden": 256, "layers": 1, "decoder_layers": None, "embedding": 256,
                  "bidirectional": True, "attention": "general", "input_feeding": True, "dropout": 0.2,
                  "tie_embeddings": False}
DATA_DEFAULTS = {"format": None, "source_column": None, "target_column": None, "level": "subword",
                 "source_level": None, "target_level": None, "vocab_size": 8000, "shared_vocab": False,
                 "min_freq": 1, "valid_fraction": 0.05, "label_smoothing": 0.1, "scheduled_sampling": 0.0}
TRANSLATE_TRAIN_DEFAULTS = TrainConfig(steps=1_000_000, epochs=20, batch_size=64, lr=2e-3, schedule="cosine",
                                       warmup=100, clip_norm=5.0, patience=4, eval_every=500, save_every=500,
                                       sample_length=0, log_every=10)
EVAL_EVERY_MIN, EVAL_EVERY_MAX = 50, 2000
VALID_SENTENCES = 3000          # sentences translated at each validation (the rest of a larger set is skipped)
TOKEN_BUDGET, MIN_EPOCHS = 4_000_000, 3


def default_epochs(train_tokens: int) -> int:
    """Passes over the training data: as many as make ``TOKEN_BUDGET`` target tokens, between ``MIN_EPOCHS``
    and ``TRANSLATE_TRAIN_DEFAULTS.epochs``."""
    return int(min(TRANSLATE_TRAIN_DEFAULTS.epochs, max(MIN_EPOCHS, round(TOKEN_BUDGET / max(1, train_tokens)))))


# --- tokens and ids ---------------------------------------------------------------------------------

class PairEncoder:
    """Each side's segmenter and vocabulary: texts ↔ ids. Targets end with ``<EOS>``."""

    def __init__(self, source_seg: Segmenter, source_vocab: Vocab, target_seg: Segmenter, target_vocab: Vocab):
        self.source_seg, self.source_vocab = source_seg, source_vocab
        self.target_seg, self.target_vocab = target_seg, target_vocab
        if target_vocab.eos_id is None or source_vocab.unk_id is None:
            raise RnnkitError("the target vocabulary needs <EOS> and the source vocabulary <UNK>; the run's "
                              "vocabulary files are not a translation run's")

    @property
    def shared(self) -> bool:
        return self.source_vocab is self.target_vocab

    def source_ids(self, text: str) -> np.ndarray:
        ids = self.source_vocab.encode(self.source_seg.tokens(text) or [UNK], unknown="unk")
        return np.asarray(ids, dtype=np.int64)

    def target_ids(self, text: str) -> np.ndarray:
        ids = self.target_vocab.encode(self.target_seg.tokens(text), unknown="unk")
        return np.asarray(ids + [self.target_vocab.eos_id], dtype=np.int64)

    def text(self, ids: list[int]) -> str:
        return self.target_seg.text(self.target_vocab.decode(ids))

    def target_tokens(self, ids: list[int]) -> list[str]:
        return self.target_vocab.decode(ids)

    def source_tokens(self, text: str) -> list[str]:
        return self.source_seg.tokens(text) or [UNK]


def build_encoder(pairs: list[Pair], opts: dict) -> PairEncoder:
    """Segmenters learned (subwords) and vocabularies built from the training pairs."""
    s_level, t_level = side_levels(opts)
    sources, targets = [p.source for p in pairs], [p.target for p in pairs]
    if opts["shared_vocab"]:
        if s_level != t_level:
            raise RnnkitError(f"a shared vocabulary needs one level for both sides, got source {s_level} and "
                              f"target {t_level}")
        seg = make_segmenter(s_level, sources + targets, opts["vocab_size"])
        tokens = [t for text in sources + targets for t in seg.tokens(text)]
        vocab = Vocab.build(tokens, seg.vocab_level, min_freq=opts["min_freq"], specials=[UNK, EOS])
        return PairEncoder(seg, vocab, seg, vocab)
    s_seg = make_segmenter(s_level, sources, opts["vocab_size"])
    t_seg = make_segmenter(t_level, targets, opts["vocab_size"])
    s_vocab = Vocab.build([t for x in sources for t in s_seg.tokens(x)], s_seg.vocab_level,
                          min_freq=opts["min_freq"], specials=[UNK])
    t_vocab = Vocab.build([t for y in targets for t in t_seg.tokens(y)], t_seg.vocab_level,
                          min_freq=opts["min_freq"], specials=[UNK, EOS])
    return PairEncoder(s_seg, s_vocab, t_seg, t_vocab)


def side_levels(opts: dict) -> tuple[str, str]:
    levels = (opts.get("source_level") or opts["level"], opts.get("target_level") or opts["level"])
    for level in levels:
        if level not in LEVELS:
            raise RnnkitError(f"unknown level {level!r}; use one of: {', '.join(LEVELS)}")
    return levels


def encoder_files(encoder: PairEncoder) -> dict:
    """The run's files of an encoder: vocabularies and sentencepiece models."""
    files = {"source_vocab.json": encoder.source_vocab.save}
    if not encoder.shared:
        files["target_vocab.json"] = encoder.target_vocab.save
    for side, seg in (("source", encoder.source_seg), ("target", encoder.target_seg)):
        if seg.level == "subword" and not (side == "target" and encoder.shared):
            files[f"{side}.spm"] = seg.save
    return files


def load_encoder(run: Path, opts: dict) -> PairEncoder:
    s_level, t_level = side_levels(opts)
    s_seg = make_segmenter(s_level, path=run / "source.spm" if s_level == "subword" else None)
    s_vocab = Vocab.load(run / "source_vocab.json")
    if opts["shared_vocab"]:
        return PairEncoder(s_seg, s_vocab, s_seg, s_vocab)
    t_seg = make_segmenter(t_level, path=run / "target.spm" if t_level == "subword" else None)
    return PairEncoder(s_seg, s_vocab, t_seg, Vocab.load(run / "target_vocab.json"))


@dataclass
class EncodedPairs:
    sources: list[np.ndarray]
    targets: list[np.ndarray] | None
    references: list[str] | None


def encode_pairs(pairs: list[Pair], encoder: PairEncoder, with_targets: bool = True) -> EncodedPairs:
    sources = [encoder.source_ids(p.source) for p in pairs]
    if not with_targets:
        return EncodedPairs(sources, None, None)
    return EncodedPairs(sources, [encoder.target_ids(p.target) for p in pairs], [p.target for p in pairs])


def pair_batches(enc: EncodedPairs, batch_size: int, *, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> ExampleBatches:
    """Batches of similar source lengths; ``targets`` (B, T_y) with ``extra["target_lengths"]``."""

    def collate(indices: list[int]) -> Batch:
        src, src_len = pad_sequences([enc.sources[i] for i in indices])
        extra, tgt = {}, None
        if enc.targets is not None:
            tgt, tgt_len = pad_sequences([enc.targets[i] for i in indices])
            extra["target_lengths"] = tgt_len
        return Batch(src, src_len, tgt, torch.tensor(indices, dtype=torch.long), extra=extra)

    return ExampleBatches([len(s) for s in enc.sources], batch_size, collate, shuffle=shuffle, seed=seed,
                          rank=rank, world_size=world_size)


# --- the objective ----------------------------------------------------------------------------------

class TranslateObjective:
    """Each sentence's loss, averaged over the global batch's sentences; validation by BLEU of greedy output."""

    monitor, higher_is_better, carries_state, unit = "bleu", True, False, "sentences"

    def __init__(self, encoder: PairEncoder, references: list[str] | None, label_smoothing: float = 0.0,
                 scheduled_sampling: float = 0.0):
        self.encoder, self.references = encoder, references
        self.label_smoothing, self.scheduled_sampling = float(label_smoothing), float(scheduled_sampling)

    def train_loss(self, net, batch: Batch, carry):
        losses = net(batch.inputs, batch.lengths, batch.targets, batch.extra["target_lengths"],
                     label_smoothing=self.label_smoothing, scheduled_sampling=self.scheduled_sampling)
        return losses.sum() * (dist.world_size() / batch.global_size), None

    def count(self, batch: Batch) -> int:
        return len(batch)

    def carry_shapes(self):
        return None

    @torch.no_grad()
    def evaluate(self, model, batches, limit: int | None = None) -> dict:
        if limit is None:
            limit = max(1, -(-VALID_SENTENCES // batches.batch_size))
        out = translate_batches(model, batches, Decoding(), limit, with_loss=True)
        result = metrics_of(out, self.encoder, self.references)
        del result["translations"]
        return result


@dataclass
class Decoding:
    """How to decode: ``beam`` 1 is greedy; ``temperature`` set means sampling."""

    beam: int = 1
    length_penalty: float = 1.0
    max_ratio: float = 2.0
    max_extra: int = 10
    temperature: float | None = None
    seed: int = 0


def decode(model: Seq2Seq, src: torch.Tensor, lengths: torch.Tensor, how: Decoding,
           generator: torch.Generator | None = None) -> list[Hypothesis]:
    limits = {"max_ratio": how.max_ratio, "max_extra": how.max_extra}
    if how.temperature is not None:
        return model.sample(src, lengths, temperature=how.temperature, generator=generator, **limits)
    if how.beam > 1:
        return model.beam_search(src, lengths, beam_size=how.beam, length_penalty=how.length_penalty, **limits)
    return model.greedy(src, lengths, **limits)


@torch.no_grad()
def translate_batches(model: Seq2Seq, batches: ExampleBatches, how: Decoding, limit: int | None = None,
                      with_loss: bool = False) -> dict:
    """Every sentence's hypothesis (and teacher-forced loss and target token count, when there are targets),
    in the data set's order; with ``limit`` only the first ``limit`` batches (shortest sources first)."""
    model.eval()
    device = next(model.parameters()).device
    generator = None
    if how.temperature is not None:
        generator = torch.Generator(device=device).manual_seed(int(how.seed))
    n = batches.num_examples
    hyps: list[Hypothesis | None] = [None] * n
    losses = np.zeros(n, dtype=np.float64)
    tokens = np.zeros(n, dtype=np.int64)
    for k, batch in enumerate(batches.iter_from(0)):
        if limit is not None and k >= limit:
            break
        batch = batch.to(device)
        idx = batch.index.tolist()
        for i, h in zip(idx, decode(model, batch.inputs, batch.lengths, how, generator)):
            hyps[i] = h
        if with_loss and batch.targets is not None:
            t_len = batch.extra["target_lengths"]
            losses[idx] = model(batch.inputs, batch.lengths, batch.targets, t_len).double().cpu().numpy()
            tokens[idx] = t_len.cpu().numpy()
    seen = [i for i, h in enumerate(hyps) if h is not None]
    return {"hypotheses": [hyps[i] for i in seen], "loss": losses[seen], "tokens": tokens[seen], "index": seen}


def metrics_of(out: dict, encoder: PairEncoder, references: list[str] | None) -> dict:
    """Loss (nats per sentence and per target token), BLEU, chrF and exact match of decoded sentences."""
    from rnnkit.metrics.translation import corpus_scores

    texts = [encoder.text(h.tokens) for h in out["hypotheses"]]
    result = {}
    if references is not None:
        refs = [references[i] for i in out["index"]]
        n_tok = int(out["tokens"].sum())
        result["loss"] = float(np.mean(out["loss"])) if len(out["loss"]) else float("nan")
        result["nll_per_token"] = float(out["loss"].sum() / n_tok) if n_tok else float("nan")
        result.update(corpus_scores(texts, refs))
    result["translations"] = texts
    return result


# --- training ---------------------------------------------------------------------------------------

class TranslateTask:
    """``rnnkit translate train``."""

    name = "translate"
    defaults = TRANSLATE_TRAIN_DEFAULTS
    model_flags = MODEL_KEYS

    def prepare(self, args, saved, run, config, device) -> Prepared:
        saved_data = saved["data"] if saved else None
        opts = _options(args, saved_data)
        m = resolve_options(MODEL_DEFAULTS, args, saved_data)
        if m["decoder_layers"] is None:
            m["decoder_layers"] = m["layers"]
        check_model_options(m)                  # the flags first: no data is read for a model that cannot be
        files, valid_files = data_files(args, saved, "tsv, csv or jsonl pairs")
        pairs = read_for_training(files, opts)
        if valid_files:
            valid = read_for_training(valid_files, opts)
        else:
            pairs, valid = split_examples(pairs, opts["valid_fraction"], config.seed)
        encoder = load_encoder(run, opts) if saved else build_encoder(pairs, opts)
        train_enc = encode_pairs(pairs, encoder)
        valid_enc = encode_pairs(valid, encoder) if valid else None
        model = Seq2Seq(model_config(m, encoder)).to(device)
        train_batches = pair_batches(train_enc, config.batch_size, shuffle=True, seed=config.seed,
                                     rank=dist.rank(), world_size=dist.world_size())
        n_target = sum(len(t) for t in train_enc.targets)
        if not saved:
            once_an_epoch(config, args, len(train_batches), EVAL_EVERY_MIN, EVAL_EVERY_MAX)
            if args.epochs is None:
                config.epochs = default_epochs(n_target)
        config.validate()
        valid_batches = pair_batches(valid_enc, 64) if valid_enc is not None else None
        longest = int(max(len(s) for s in train_enc.sources))
        data = {**opts, **m, "files": [str(f) for f in files],
                "valid_files": [str(f) for f in valid_files] if valid_files else None,
                "train_pairs": len(pairs), "valid_pairs": len(valid), "longest_source": longest}
        s_level, t_level = side_levels(opts)
        description = (
            f"{', '.join(map(str, files))}\n  {len(pairs):,} training pairs ({n_target:,} target tokens) and "
            f"{len(valid):,} validation pairs; source {s_level} ({len(encoder.source_vocab):,} tokens), target "
            f"{t_level} ({len(encoder.target_vocab):,} tokens){', shared' if encoder.shared else ''}; "
            f"{'bidirectional ' if m['bidirectional'] else ''}{m['cell']} encoder {m['layers']}×{m['hidden']}, "
            f"decoder {m['decoder_layers']}×{m['hidden']}, attention {m['attention']}")
        sample = _show_translations(encoder, valid[:3]) if valid else None
        return Prepared(model, train_batches, valid_batches,
                        TranslateObjective(encoder, valid_enc.references if valid_enc is not None else None,
                                           opts["label_smoothing"], opts["scheduled_sampling"]),
                        {"model": model.config_dict(), "data": data}, files=encoder_files(encoder),
                        description=description, sample=sample)


def check_model_options(m: dict) -> None:
    if m["attention"] not in ATTENTIONS:
        raise RnnkitError(f"--attention must be one of {', '.join(ATTENTIONS)}, got {m['attention']!r}")
    if m["tie_embeddings"] and m["embedding"] != m["hidden"]:
        raise RnnkitError(f"--tie-embeddings needs --embedding equal to --hidden, got {m['embedding']} and "
                          f"{m['hidden']}")
    if m["attention"] == "dot" and m["bidirectional"]:
        raise RnnkitError("dot attention compares decoder and encoder states of one size: add --no-bidirectional "
                          "or use --attention general")


def model_config(m: dict, encoder: PairEncoder) -> Seq2SeqConfig:
    check_model_options(m)
    return Seq2SeqConfig(len(encoder.source_vocab), len(encoder.target_vocab), encoder.target_vocab.eos_id,
                         hidden_size=m["hidden"], embedding_size=m["embedding"], encoder_layers=m["layers"],
                         decoder_layers=m["decoder_layers"], cell=m["cell"], bidirectional=m["bidirectional"],
                         attention=m["attention"], input_feeding=m["input_feeding"], dropout=m["dropout"],
                         tie_embeddings=m["tie_embeddings"], share_embeddings=encoder.shared)


def _show_translations(encoder: PairEncoder, pairs: list[Pair]):
    def sample(model, step) -> str:
        enc = encode_pairs(pairs, encoder, with_targets=False)
        src, lengths = pad_sequences(enc.sources)
        device = next(model.parameters()).device
        was = model.training
        hyps = model.greedy(src.to(device), lengths.to(device))
        model.train(was)
        return "\n".join(f"  {p.source} → {encoder.text(h.tokens)}" for p, h in zip(pairs, hyps))

    return sample


def _options(args, saved: dict | None) -> dict:
    opts = resolve_options(DATA_DEFAULTS, args, saved)
    if not 0 <= opts["valid_fraction"] < 1:
        raise RnnkitError(f"--valid-fraction must be in [0, 1), got {opts['valid_fraction']}")
    if not 0 <= opts["label_smoothing"] < 1 or not 0 <= opts["scheduled_sampling"] < 1:
        raise RnnkitError("--label-smoothing and --scheduled-sampling must be in [0, 1)")
    side_levels(opts)
    return opts


def read_for_training(files, opts: dict) -> list[Pair]:
    return read_pairs(files, opts["format"], source_column=opts["source_column"],
                      target_column=opts["target_column"], require_target=True)


# --- using a trained run ----------------------------------------------------------------------------

@dataclass
class LoadedRun:
    model: Seq2Seq
    encoder: PairEncoder
    opts: dict
    config: dict


def load_run(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """The model and encoder of a ``translate train`` run (safetensors, JSON and sentencepiece files only)."""
    config = read_config(run, "translate")
    run = Path(run)
    try:
        data = config["data"]
        opts = {k: data.get(k, v) for k, v in DATA_DEFAULTS.items()}
        model = Seq2Seq.from_config(config["model"])
        encoder = load_encoder(run, opts)
    except (KeyError, TypeError, ValueError) as e:
        raise RnnkitError(f"{run / 'config.json'}: the translation configuration is malformed ({e})") from None
    if len(encoder.target_vocab) != model.config.target_vocab_size:
        raise RnnkitError(f"{run}: the vocabulary files and the model disagree; they come from different runs")
    load_model_weights(model, weights_path(run, checkpoint))
    return LoadedRun(model.to(device).eval(), encoder, {**opts, "longest_source": data.get("longest_source")},
                     config)


def read_for(loaded: LoadedRun, files, args, require_target: bool) -> list[Pair]:
    """Read ``files`` as the run's training data was read, unless the flags say otherwise."""
    opts = dict(loaded.opts)
    if getattr(args, "format", None) is None:
        opts["format"] = None                   # guessed per file, as in training
    trained_on = loaded.opts.get("format") or _guessed(loaded.config["data"].get("files") or [])
    reading = opts["format"] or _guessed(files)
    if (trained_on == "jsonl") != (reading == "jsonl"):  # columns by number (csv, tsv) or by key (jsonl)
        opts["source_column"] = opts["target_column"] = None
    for key in ("format", "source_column", "target_column"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    return read_pairs(files, opts["format"], source_column=opts["source_column"],
                      target_column=opts["target_column"], require_target=require_target)


def _guessed(files) -> str | None:
    from rnnkit.data.formats.pairs import guess_pair_format

    try:
        return guess_pair_format(list(files)[0]) if files else None
    except RnnkitError:
        return None


__all__ = ["Decoding", "EncodedPairs", "LoadedRun", "PairEncoder", "TranslateObjective", "TranslateTask",
           "build_encoder", "decode", "encode_pairs", "load_run", "metrics_of", "pair_batches", "read_for",
           "translate_batches"]
