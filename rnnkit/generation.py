"""Choosing the next token from ``ŷ<t>``: temperature, top-k, nucleus (top-p), greedy.

Sampling novel sequences is the one-to-many use of a language model: feed ``x<1>`` (a prime), sample
``y<1>`` from ``ŷ<1>``, feed it back as ``x<2>``, and so on. These helpers act on the logits ``z<t>`` of one
step, shape (B, V).
"""

from __future__ import annotations

import math

import torch


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ``ValueError`` with the offending value when a sampling option is out of range."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be a positive integer, got {top_k}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to −inf every logit outside the support that top-k and top-p allow; (B, V) → (B, V).

    top-k keeps the k most likely tokens; top-p keeps the smallest set of most likely tokens whose total
    probability reaches p (the most likely token is always kept).
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, int(top_k), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token when the tokens before it already reach p
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token id per row from ``softmax(z / temperature)`` restricted by top-k / top-p.

    ``temperature == 0`` is greedy decoding (argmax). Shapes: logits (B, V) → ids (B,).
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
