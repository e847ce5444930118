"""``rnnkit lm sample | score | eval``: using a trained language model."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from rnnkit.data import Vocab
from rnnkit.data.text import read_text
from rnnkit.data.tokenize import detokenize, tokenize
from rnnkit.errors import RnnkitError
from rnnkit.generation import stepped_loss
from rnnkit.models import LanguageModel
from rnnkit.tasks.lm import start_token
from rnnkit.training.optim import resolve_device
from rnnkit.training.run import read_config, weights_path
from rnnkit.training.trainer import load_model_weights


def load_lm(run: str, checkpoint: str = "best", device: str = "cpu") -> tuple[LanguageModel, Vocab, dict]:
    """The model, vocabulary and configuration of a run directory (safetensors and JSON only)."""
    config = read_config(run, "lm")
    vocab = Vocab.load(Path(run) / "vocab.json")
    try:
        model = LanguageModel.from_config(config["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise RnnkitError(f"{Path(run) / 'config.json'}: the model configuration is malformed ({e})") from None
    if model.vocab_size != len(vocab):
        raise RnnkitError(f"{run}: the model has {model.vocab_size} outputs but vocab.json has {len(vocab)} tokens;"
                          " the files come from different runs")
    load_model_weights(model, weights_path(run, checkpoint))
    return model.to(resolve_device(device)).eval(), vocab, config


def encode_text(vocab: Vocab, text: str, eos: str) -> list[int]:
    unknown = "unk" if vocab.unk_id is not None else "error"
    return vocab.encode(tokenize(text, vocab.level, "line" if eos != "none" else "none"), unknown=unknown)


def sample(args) -> int:
    """``--num N`` samples drawn as one batch of N rows through the stepper; the first is streamed as it is
    generated, the others are printed when the batch is done."""
    model, vocab, config = load_lm(args.run, args.checkpoint, args.device)
    device = model.head.W_ya.device
    eos = config["data"].get("eos", "none")
    prime_ids = encode_text(vocab, args.prime, eos) if args.prime else []
    context = [start_token(vocab)] + prime_ids
    temperature = 0.0 if args.greedy else args.temperature
    stop = None if args.no_stop else vocab.eos_id
    generator = torch.Generator(device=device)
    if args.seed is not None:
        generator.manual_seed(args.seed)
    else:
        generator.seed()
    out = sys.stdout
    texts, previous = [args.prime] * args.num, [list(prime_ids) for _ in range(args.num)]
    finished = [False] * args.num
    out.write(args.prime)
    primes = torch.tensor([context], device=device).expand(args.num, -1)
    for tokens in model.stream(primes, args.length, temperature, args.top_k, args.top_p, generator,
                               stop_token=stop, weights=args.weights):
        for n, tid in enumerate(tokens.tolist()):
            if finished[n] or tid == stop:
                finished[n] = True
                continue
            piece = token_piece(vocab, previous[n], tid)
            texts[n] += piece
            previous[n].append(tid)
            if n == 0:
                out.write(piece)
                out.flush()
    out.write("\n")
    for n in range(1, args.num):
        if "\n" in texts[n - 1]:
            out.write("\n")  # a blank line between samples of running text; one name per line stays one
        out.write(texts[n] + "\n")
    out.flush()
    return 0


def token_piece(vocab: Vocab, previous: list[int], tid: int) -> str:
    """The text one new token adds (word level: with the spacing detokenize would give)."""
    if vocab.level == "char":
        return detokenize([vocab.tokens[tid]], "char")
    if not previous:
        return detokenize([vocab.tokens[tid]], "word")
    before = detokenize(vocab.decode(previous[-1:]), "word")
    return detokenize(vocab.decode(previous[-1:] + [tid]), "word")[len(before):]


def score(args) -> int:
    model, vocab, config = load_lm(args.run, args.checkpoint, args.device)
    device = model.head.W_ya.device
    eos = config["data"].get("eos", "none")
    results = []
    for text in args.text:
        ids = encode_text(vocab, text, eos)
        if vocab.eos_id is not None and (not ids or ids[-1] != vocab.eos_id):
            ids.append(vocab.eos_id)  # a sentence's probability includes its end
        if not ids:
            raise RnnkitError("cannot score empty text; give at least one token")
        context = torch.tensor([start_token(vocab)], device=device)
        log_probs = model.token_log_probs(torch.tensor(ids, device=device), context=context)
        total = float(log_probs.sum())
        results.append({"text": text, "log_prob": total, "perplexity": math.exp(-total / len(ids)),
                        "tokens": len(ids),
                        "token_probs": [{"token": vocab.tokens[i], "prob": math.exp(float(lp))}
                                        for i, lp in zip(ids, log_probs)]})
    for r in results:
        print(f"log P = {r['log_prob']:.4f} nats ({r['log_prob'] / math.log(2):.4f} bits), perplexity "
              f"{r['perplexity']:.3f}, {r['tokens']} tokens: {r['text']!r}")
        if args.json:
            print("  " + " ".join(f"{t['token']!r}:{t['prob']:.4f}" for t in r["token_probs"]))
    if args.json:
        if len(results) == 1:
            summary = results[0]
        else:
            total, n = sum(r["log_prob"] for r in results), sum(r["tokens"] for r in results)
            summary = {"log_prob": total, "perplexity": math.exp(-total / n), "tokens": n, "texts": results}
        print(json.dumps(summary, ensure_ascii=False))
    return 0


def evaluate(args) -> int:
    model, vocab, config = load_lm(args.run, args.checkpoint, args.device)
    device = model.head.W_ya.device
    eos = config["data"].get("eos", "none")
    text = read_text(args.data, errors=args.encoding_errors)
    ids = torch.tensor(encode_text(vocab, text, eos), device=device)
    if len(ids) < 2:
        raise RnnkitError(f"{' '.join(args.data)}: fewer than 2 tokens, nothing to evaluate")
    total, state, chunk = 0.0, None, 512
    with torch.no_grad():
        for start in range(0, len(ids) - 1, chunk):
            x = ids[start:start + chunk].unsqueeze(0)
            y = ids[start + 1:start + chunk + 1].unsqueeze(0)
            x = x[:, :y.shape[1]]
            logits, state = model(x, state)
            total += float(torch.nn.functional.cross_entropy(logits[0].float(), y[0], reduction="sum"))
    n = len(ids) - 1
    loss = total / n
    result = {"loss": loss, "perplexity": math.exp(min(loss, 700)),
              "bits_per_char": total / max(1, len(text) - 1) / math.log(2), "tokens": n}
    print(f"loss {loss:.4f} nats/token, perplexity {result['perplexity']:.3f}, "
          f"{result['bits_per_char']:.4f} bits/char over {n:,} tokens")
    if args.weights != "float32":
        reduced = stepped_loss(model, ids, args.weights)
        full = stepped_loss(model, ids, "float32")
        result.update({"weights": args.weights, "stepped_loss": reduced, "stepped_loss_float32": full,
                       "loss_change": reduced - full})
        print(f"stepping from {args.weights} weights: loss {reduced:.4f} nats/token against {full:.4f} from "
              f"float32 ({reduced - full:+.4f})")
    if args.json:
        print(json.dumps(result))
    return 0
