"""``rnnkit lm train``: files (or the default corpus) → vocabulary → cached ids → batches → trainer."""

from __future__ import annotations

import contextlib
import os
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from rnnkit.cli.args import train_config
from rnnkit.data import StreamBatches, Vocab, default_corpus, default_corpus_description, encode_to_memmap, split
from rnnkit.data.cache import source_pieces
from rnnkit.data.text import as_path_list
from rnnkit.data.tokenize import EOS, detokenize, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.models import LanguageModel
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.optim import resolve_device
from rnnkit.training.run import new_run_dir, read_config, write_config
from rnnkit.training.trainer import StreamTrainer

# The default model and training configuration: see README.md, "Choosing the defaults", for the measurement.
LM_DEFAULTS = {"cell": "lstm", "hidden": 320, "layers": 2, "embedding": 64, "dropout": 0.1, "level": "char",
               "eos": "none", "min_freq": 1, "max_vocab": None, "valid_fraction": 0.1}
LM_TRAIN_DEFAULTS = TrainConfig(steps=7000, batch_size=16, seq_len=50, lr=3e-3, beta2=0.99, schedule="cosine",
                                warmup=0, eval_every=1000, save_every=1000, clip_norm=5.0)


def _cache_dir(args) -> Path:
    if args.cache_dir:
        return Path(args.cache_dir)
    return Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit"))


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
    return encode_to_memmap(vocab, _cache_dir(args), text=text, paths=paths, eos=opts["eos"], unknown=unknown,
                            errors=args.encoding_errors)


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


def train(args) -> int:
    saved = None
    if args.resume:
        if args.out:
            raise RnnkitError("give either --out (a new run) or --resume RUN (continue one), not both")
        saved = read_config(args.resume, "lm")
        if not all(isinstance(saved.get(key), dict) for key in ("data", "train", "model")):
            raise RnnkitError(f"{Path(args.resume) / 'config.json'}: malformed configuration (it needs 'data', "
                              "'train' and 'model' objects); the file is corrupt")
    with _saved_values(args):
        opts = _data_options(args, saved["data"] if saved else None)
    for key in ("cell", "hidden", "layers", "embedding", "dropout"):
        if saved and getattr(args, key) is not None and getattr(args, key) != saved["data"].get(key):
            raise RnnkitError(f"--{key} differs from the run being resumed ({saved['data'].get(key)}); "
                              "the model of a run cannot change")
    with _saved_values(args):
        config = train_config(args, LM_TRAIN_DEFAULTS, saved["train"] if saved else None)
    device = resolve_device(config.device)
    dist.init(device.type)
    if device.type == "cuda" and dist.world_size() > 1:
        device = torch.device("cuda", dist.local_rank())
        torch.cuda.set_device(device)
    data = args.data or (saved["data"]["files"] if saved else None)
    valid_files = args.valid or (saved["data"].get("valid_files") if saved else None)
    text, paths, description = _source(data)
    if saved:
        run = Path(args.resume)
        vocab = Vocab.load(run / "vocab.json")
        model_config = saved.get("model") if isinstance(saved.get("model"), dict) else {}
        if model_config.get("vocab_size") != len(vocab):
            raise RnnkitError(f"{run}: config.json has a model with {model_config.get('vocab_size')} outputs but "
                              f"vocab.json has {len(vocab)} tokens; the files come from different runs")
    else:
        vocab = _build_vocab(opts, text, paths, args.encoding_errors)
        run = _broadcast_path(lambda: new_run_dir(args.out, "lm"))
    ids = _encode(vocab, args, opts, text, paths)
    if valid_files:
        train_ids, valid_ids = ids, _encode(vocab, args, opts, None, valid_files)
    else:
        train_ids, valid_ids = split(ids, opts["valid_fraction"])
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    B, T = config.batch_size, config.seq_len
    train_batches = StreamBatches(train_ids, B, T, rank=dist.rank(), world_size=dist.world_size())
    valid_batches = None
    if len(valid_ids) > 1:
        vb = max(1, min(B, (len(valid_ids) - 1) // (T + 1)))
        valid_batches = StreamBatches(valid_ids, vb, min(T, (len(valid_ids) - 1) // vb))
    with _saved_values(args):
        model = LanguageModel(len(vocab), opts["hidden"], opts["layers"], opts["cell"],
                              embedding_size=opts["embedding"] or None, dropout=opts["dropout"],
                              one_hot=opts["embedding"] == 0).to(device)
    if dist.rank() > 0:
        # Every rank starts from the same weights (DDP copies rank 0's), but draws its own dropout masks.
        torch.manual_seed(config.seed + 7919 * dist.rank())
    if not saved and dist.is_main():
        vocab.save(run / "vocab.json")  # before config.json: a run with a config.json is complete
        write_config(run, {"task": "lm", "model": asdict(model.config), "train": asdict(config),
                           "data": {**opts, "files": data, "valid_files": valid_files, "source": description,
                                    "train_tokens": len(train_ids), "valid_tokens": len(valid_ids)}})
    sampler = _Sampler(vocab, opts, device, config)
    trainer = StreamTrainer(model, train_batches, valid_batches, config, run, sample=sampler, device=device,
                            quiet=args.quiet)
    if saved and (run / "state.json").exists():
        trainer.resume()
    elif saved:
        # Stopped before its first checkpoint: start it again from step 0 with its saved configuration
        # (the same seed gives the same run), dropping whatever it logged.
        if dist.is_main():
            print(f"rnnkit lm train: {run} has no checkpoint yet; starting it again from step 0", file=sys.stderr)
            trainer.metrics.truncate(0)
    if dist.is_main() and not args.quiet:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"rnnkit lm train: {description}\n  {len(train_ids):,} training and {len(valid_ids):,} validation "
              f"tokens, vocabulary {len(vocab)} ({opts['level']} level); {opts['cell']} {opts['layers']}×"
              f"{opts['hidden']}, {n_params:,} parameters; run directory {run}", file=sys.stderr)
    summary = trainer.fit()
    if dist.is_main():
        best = summary["best_valid_loss"]
        print(f"done: step {summary['step']}" + (f", best validation loss {best:.4f}" if best is not None else "")
              + (" (stopped early)" if summary["stopped_early"] else "") + f"; run directory {run}", file=sys.stderr)
        print(run)
    dist.shutdown()
    return 0


@contextlib.contextmanager
def _saved_values(args):
    """Values of a resumed run's config.json of the wrong type (a hand-edited file) are a clear error."""
    try:
        yield
    except (TypeError, KeyError, AttributeError) as e:
        if not args.resume:
            raise
        raise RnnkitError(f"{Path(args.resume) / 'config.json'}: malformed configuration ({e!r})") from None


def _broadcast_path(make) -> Path:
    """Rank 0 creates the run directory with ``make()``; every rank learns it, or raises rank 0's error."""
    if dist.world_size() == 1:
        return make()
    import torch.distributed as tdist

    box = [None, None]
    if dist.is_main():
        try:
            box[0] = str(make())
        except RnnkitError as e:
            box[1] = str(e)
    tdist.broadcast_object_list(box, src=0)
    if box[1] is not None:
        raise RnnkitError(box[1])
    return Path(box[0])


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

