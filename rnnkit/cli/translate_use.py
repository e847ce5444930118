"""``rnnkit translate train | eval | predict``: the verbs (the flags are in :mod:`rnnkit.cli.translate`)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import torch

from rnnkit.cli.args import stdin_chunks
from rnnkit.data.examples import pad_sequences
from rnnkit.data.formats.pairs import Pair
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open
from rnnkit.tasks import translate as task
from rnnkit.training.driver import train as run_training
from rnnkit.training.optim import resolve_device

LONG_SOURCE = 3      # warn about sources this many times longer than the longest seen in training


def train(args) -> int:
    return run_training(args, task.TranslateTask())


def _decoding(args) -> task.Decoding:
    return task.Decoding(beam=args.beam, length_penalty=args.length_penalty, max_ratio=args.max_ratio,
                         max_extra=args.max_extra, temperature=args.temperature, seed=args.seed)


def evaluate(args) -> int:
    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    pairs = task.read_for(loaded, args.data, args, require_target=True)
    enc = task.encode_pairs(pairs, loaded.encoder)
    out = task.translate_batches(loaded.model, task.pair_batches(enc, args.batch_size), _decoding(args),
                                 with_loss=True)
    result = task.metrics_of(out, loaded.encoder, enc.references)
    translations = result.pop("translations")
    how = f"beam {args.beam}" if args.temperature is None and args.beam > 1 else (
        "greedy" if args.temperature is None else f"sampled at temperature {args.temperature}")
    print(f"{len(pairs):,} pairs of {', '.join(args.data)}, {how}: BLEU {result['bleu']:.2f}, chrF "
          f"{result['chrf']:.2f}, exact match {result['exact_match']:.4f}; loss {result['nll_per_token']:.4f} "
          "nats per target token")
    if args.output:
        with atomic_open(args.output, "w", encoding="utf-8") as f:
            for p, t in zip(pairs, translations):
                f.write(f"{_one_line(p.source)}\t{_one_line(p.target)}\t{_one_line(t)}\n")
        print(f"translations: {args.output}")
    if args.json:
        print(json.dumps({**result, "pairs": len(pairs)}))
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def predict(args) -> int:
    loaded = task.load_run(args.run, args.checkpoint, resolve_device(args.device))
    if args.n_best > args.beam:
        raise RnnkitError(f"--n-best {args.n_best} needs a beam at least as wide (--beam {args.beam})")
    files = [f for f in args.files if f != "-"]
    counter = [0]
    if files:
        pairs = task.read_for(loaded, files, args, require_target=False)
        for start in range(0, len(pairs), 256):
            _predict(loaded, pairs[start:start + 256], args, counter)
    if not args.files or "-" in args.files:
        for chunk in stdin_chunks(lambda line, where: Pair(line.strip(), None, where)):
            _predict(loaded, chunk, args, counter)
    return 0


def _predict(loaded: task.LoadedRun, pairs: list[Pair], args, counter: list[int]) -> None:
    """Translate ``pairs`` (in order) and print a JSON line each; empty sources get an empty translation."""
    todo = [i for i, p in enumerate(pairs) if p.source]
    rows: list[dict] = [{"source": p.source, "translation": "", "log_prob": None} for p in pairs]
    if todo:
        encoder, model = loaded.encoder, loaded.model
        sources = [encoder.source_ids(pairs[i].source) for i in todo]
        longest = loaded.opts.get("longest_source")
        for i, s in zip(todo, sources):
            if longest and len(s) > LONG_SOURCE * longest:
                warnings.warn(f"{pairs[i].where}: the source has {len(s)} tokens, over {LONG_SOURCE}× the longest "
                              f"in training ({longest}); its translation may be poor", stacklevel=1)
        device = next(model.parameters()).device
        how = _decoding(args)
        generator = torch.Generator(device=device).manual_seed(how.seed) if how.temperature is not None else None
        order = sorted(range(len(todo)), key=lambda k: len(sources[k]))
        for start in range(0, len(order), args.batch_size):
            part = order[start:start + args.batch_size]
            src, lengths = pad_sequences([sources[k] for k in part])
            src, lengths = src.to(device), lengths.to(device)
            if args.n_best > 1 and how.temperature is None:
                best = model.beam_search(src, lengths, how.beam, how.length_penalty, how.max_ratio, how.max_extra,
                                         n_best=args.n_best)
            else:
                best = [[h] for h in task.decode(model, src, lengths, how, generator)]
            for k, hyps in zip(part, best):
                i = todo[k]
                h = hyps[0]
                rows[i].update({"translation": encoder.text(h.tokens), "log_prob": round(h.log_prob, 4)})
                if len(hyps) > 1:
                    rows[i]["n_best"] = [{"translation": encoder.text(x.tokens), "log_prob": round(x.log_prob, 4)}
                                         for x in hyps]
                if args.attention_png and h.attention is not None:
                    rows[i]["attention_png"] = _draw(loaded, pairs[i].source, h, args.attention_png,
                                                     counter[0] + i + 1)
    counter[0] += len(pairs)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False), flush=True)


def _draw(loaded: task.LoadedRun, source: str, h, folder: str, number: int) -> str | None:
    from rnnkit.metrics.translation import plot_attention

    path = Path(folder) / f"attention-{number}.png"
    written = loaded.encoder.target_tokens(h.tokens) + ["<EOS>"]
    shown = source if len(source) <= 60 else source[:57] + "…"
    if not plot_attention(h.attention.numpy(), loaded.encoder.source_tokens(source), written, path,
                          title=f"{shown} → {loaded.encoder.text(h.tokens)}"):
        print("rnnkit: warning: --attention-png needs matplotlib (pip install 'rnnkit[plot]')", file=sys.stderr)
        return None
    return str(path)
