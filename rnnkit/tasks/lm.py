"""Language models: files (or the default corpus) → vocabulary → cached ids → truncated-BPTT batches.

The objective is the mean cross-entropy of ``ŷ<t>`` against ``y<t> = x<t+1>`` over the batch's tokens; the
state policy carries the state from batch to batch (each row of a batch continues the same row of the
previous one) and detaches it, so gradients flow back at most ``T`` steps (truncated backpropagation through
time). Evaluation returns nats per token and perplexity; the best checkpoint is the lowest validation loss.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict

import torch

from rnnkit.data import StreamBatches, Vocab, default_corpus, default_corpus_description, encode_to_memmap, split
from rnnkit.data.cache import default_cache_dir, source_pieces
from rnnkit.data.text import as_path_list
from rnnkit.data.tokenize import EOS, detokenize, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.losses import sequence_cross_entropy
from rnnkit.models import LanguageModel
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.driver import Prepared

# The default model and training configuration: see README.md, "Choosing the defaults", for the measurement.
LM_DEFAULTS = {"cell": "lstm", "hidden": 320, "layers": 2, "embedding": 64, "dropout": 0.1, "level": "char",
               "eos": "none", "min_freq": 1, "max_vocab": None, "valid_fraction": 0.1}
LM_TRAIN_DEFAULTS = TrainConfig(steps=7000, batch_size=16, seq_len=50, lr=3e-3, beta2=0.99, schedule="cosine",
                                warmup=0, eval_every=1000, save_every=1000, clip_norm=5.0)

EVAL_STEPS = 1000     # time steps per model call in an evaluation
EVAL_LOGITS = 1 << 24  # and at most this many logits (64 MiB in float32)


class LMObjective:
    """Next-token cross-entropy on :class:`rnnkit.data.StreamBatches`, the state carried across batches."""

    monitor, higher_is_better, carries_state, unit = "loss", False, True, "tokens"

    def __init__(self, model: LanguageModel, batch_size: int):
        self.model, self.batch_size = model, batch_size

    def train_loss(self, net, batch, carry):
        x, y = batch
        logits, carry = net(x, carry)
        return sequence_cross_entropy(logits, y, reduction="mean", batch_first=True), carry

    def count(self, batch) -> int:
        return batch[0].numel()

    def carry_shapes(self):
        return [tuple(s.shape) for s in self.model.init_state(self.batch_size)]

    @torch.no_grad()
    def evaluate(self, model, batches, limit: int | None = None) -> dict[str, float]:
        """Mean cross-entropy (nats per token) over the validation stream, state carried across batches.

        The batches are read in spans of up to ``EVAL_STEPS`` time steps and ``EVAL_LOGITS`` logits: the same
        tokens and the same loss as batch by batch, in fewer calls of the model (for the default character
        model on 2 CPU cores, 1.5× faster)."""
        device = next(model.parameters()).device
        total, count, state = 0.0, 0, None
        n = len(batches) if limit is None else min(len(batches), limit)
        start, per_span = 0, 1                       # one batch first, to learn how many logits a batch makes
        while start < n:
            stop = min(n, start + per_span)
            x, y = batches.span(start, stop)
            logits, state = model(x.to(device), state)
            per_span = max(1, min(EVAL_STEPS // batches.seq_len, EVAL_LOGITS * (stop - start) // logits.numel()))
            start = stop
            total += float(sequence_cross_entropy(logits, y.to(device), reduction="sum",
                                                  batch_first=True)) * x.shape[0]
            count += y.numel()
        loss = total / max(count, 1)
        return {"loss": loss, "perplexity": math.exp(min(loss, 700))}


class LMTask:
    """``rnnkit lm train``."""

    name = "lm"
    defaults = LM_TRAIN_DEFAULTS
    model_flags = ("cell", "hidden", "layers", "embedding", "dropout")

    def prepare(self, args, saved, run, config, device) -> Prepared:
        opts = _data_options(args, saved["data"] if saved else None)
        data = args.data or (saved["data"]["files"] if saved else None)
        valid_files = args.valid or (saved["data"].get("valid_files") if saved else None)
        text, paths, description = _source(data)
        if saved:
            vocab = Vocab.load(run / "vocab.json")
            model_config = saved.get("model") if isinstance(saved.get("model"), dict) else {}
            if model_config.get("vocab_size") != len(vocab):
                raise RnnkitError(f"{run}: config.json has a model with {model_config.get('vocab_size')} outputs "
                                  f"but vocab.json has {len(vocab)} tokens; the files come from different runs")
        else:
            vocab = _build_vocab(opts, text, paths, args.encoding_errors)
        ids = _encode(vocab, args, opts, text, paths)
        if valid_files:
            train_ids, valid_ids = ids, _encode(vocab, args, opts, None, valid_files)
        else:
            train_ids, valid_ids = split(ids, opts["valid_fraction"])
        B, T = config.batch_size, config.seq_len
        train_batches = StreamBatches(train_ids, B, T, rank=dist.rank(), world_size=dist.world_size())
        valid_batches = None
        if len(valid_ids) > 1:
            vb = max(1, min(B, (len(valid_ids) - 1) // (T + 1)))
            valid_batches = StreamBatches(valid_ids, vb, min(T, (len(valid_ids) - 1) // vb))
        model = LanguageModel(len(vocab), opts["hidden"], opts["layers"], opts["cell"],
                              embedding_size=opts["embedding"] or None, dropout=opts["dropout"],
                              one_hot=opts["embedding"] == 0).to(device)
        config_entries = {"model": asdict(model.config),
                          "data": {**opts, "files": data, "valid_files": valid_files, "source": description,
                                   "train_tokens": len(train_ids), "valid_tokens": len(valid_ids)}}
        summary = (f"{description}\n  {len(train_ids):,} training and {len(valid_ids):,} validation tokens, "
                   f"vocabulary {len(vocab)} ({opts['level']} level); {opts['cell']} {opts['layers']}×"
                   f"{opts['hidden']}")
        return Prepared(model, train_batches, valid_batches, LMObjective(model, B), config_entries,
                        files={"vocab.json": vocab.save}, description=summary,
                        sample=_Sampler(vocab, opts, device, config))


def _data_options(args, saved: dict | None) -> dict:
    opts = dict(LM_DEFAULTS)
    opts.update({k: v for k, v in (saved or {}).items() if k in opts})
    for key in opts:
        value = getattr(args, key, None)
        if value is not None:
            opts[key] = value
    if not 0 <= opts["valid_fraction"] < 1:
        raise RnnkitError(f"--valid-fraction must be in [0, 1), got {opts['valid_fraction']}")
    return opts


def _source(data: list[str] | None) -> tuple[str | None, list[str] | None, str]:
    """(text, paths, description) of the training data."""
    if data:
        return None, data, ", ".join(data)
    return default_corpus(), None, default_corpus_description()


def _encode(vocab: Vocab, args, opts: dict, text, paths):
    unknown = "unk" if vocab.unk_id is not None else "error"
    return encode_to_memmap(vocab, default_cache_dir(args.cache_dir), text=text, paths=paths, eos=opts["eos"],
                            unknown=unknown, errors=args.encoding_errors)


def _build_vocab(opts: dict, text: str | None, paths: list[str] | None, errors: str) -> Vocab:
    """Count the tokens piece by piece (RAM flat in the corpus size), then build the vocabulary."""
    counts: Counter[str] = Counter()
    line_eos = "line" if opts["eos"] == "line" else "none"
    for _, piece in source_pieces(text, [] if paths is None else as_path_list(paths), errors):
        counts.update(tokenize(piece, opts["level"], line_eos))
    if opts["eos"] == "document":
        counts[EOS] += 1  # only its presence matters to Vocab.build
    # Vocab.build counts with Counter(tokens): given a Counter, it takes the counts as they are.
    if opts["level"] == "char":
        return Vocab.build(counts, "char")
    return Vocab.build(counts, "word", min_freq=opts["min_freq"], max_size=opts["max_vocab"], specials=["<UNK>"])


class _Sampler:
    """The short sample printed at each evaluation, from its own generator (the training RNG is untouched)."""

    def __init__(self, vocab: Vocab, opts: dict, device, config: TrainConfig):
        self.vocab, self.level, self.device, self.length = vocab, opts["level"], device, config.sample_length
        self.start = start_token(vocab)

    def __call__(self, model: LanguageModel, step: int) -> str:
        if self.length == 0:
            return ""
        generator = torch.Generator(device=self.device).manual_seed(step)
        prime = torch.tensor([self.start], device=self.device)
        ids = model.generate(prime, self.length, temperature=0.8, generator=generator)
        return "----\n" + detokenize(self.vocab.decode(ids.tolist()), self.level) + "\n----"


def start_token(vocab: Vocab) -> int:
    """What a sample with no prime starts from: ``<EOS>`` (a sentence start), else a newline, else id 0."""
    if vocab.eos_id is not None:
        return vocab.eos_id
    return vocab.stoi.get("\n", 0)
