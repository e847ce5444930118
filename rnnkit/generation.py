"""Choosing the next token from ``ŷ<t>``: temperature, top-k, nucleus (top-p), greedy.

Sampling novel sequences is the one-to-many use of a language model: feed ``x<1>`` (a prime), sample
``y<1>`` from ``ŷ<1>``, feed it back as ``x<2>``, and so on. These helpers act on the logits ``z<t>`` of one
step, shape (B, V).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnkit.engine.kernels.base import one_row_gemv, one_row_linear


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
    z = filter_logits(logits.float() / temperature, top_k, top_p)
    return gumbel_max(z, torch.empty_like(z), generator)


def gumbel_max(z: torch.Tensor, noise: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row from ``softmax(z)``: ``argmax(z - log E)`` with ``E ~ Exp(1)`` i.i.d. (the Gumbel-max
    trick: exactly that distribution, with no normalisation, and for one row on a CPU about half the time of
    ``softmax`` + ``torch.multinomial``). ``E`` is kept above 0, so a logit of −inf is never drawn.
    ``noise`` is a buffer shaped like ``z``, overwritten. Shapes: z (B, V) → ids (B,).
    """
    noise.exponential_(generator=generator).clamp_(min=torch.finfo(noise.dtype).tiny).log_()
    return torch.sub(z, noise, out=noise).argmax(dim=-1)


class Sampler:
    """Draws from ``softmax(z / temperature)`` under top-k / top-p for a stream of steps, like
    :func:`sample_next`. In the common case (no top-k or top-p, float32 logits) it draws the Gumbel noise
    of up to 64 steps at once into a buffer made once, so a step costs a subtraction and an argmax; the
    draws then differ from :func:`sample_next`'s for the same generator, and follow the same distribution.

    Example::

        sampler = Sampler(temperature=0.8, generator=torch.Generator().manual_seed(0))
        token = sampler(logits)             # (B, V) → (B,)
    """

    STEPS = 64              # steps of noise drawn at once, fewer for wide logits (at most 2¹⁶ values)

    def __init__(self, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None):
        check_sampling(temperature, top_k, top_p)
        self.temperature, self.top_k, self.top_p, self.generator = temperature, top_k, top_p, generator
        self.plain = top_k is None and top_p is None
        self.noise: torch.Tensor | None = None   # (steps, B, V): log E, E ~ Exp(1)
        self.z: torch.Tensor | None = None
        self.next = 0
        # For :meth:`from_output`: rows of b − T log E (steps, V), made from b as it was at ``biased_key``.
        self.biased: torch.Tensor | None = None
        self.biased_noise: torch.Tensor | None = None
        self.next_biased, self.biased_key = 0, None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        if not self.plain or logits.dtype != torch.float32:
            return sample_next(logits, self.temperature, self.top_k, self.top_p, self.generator)
        noise = self.noise
        if noise is None or noise.shape[1:] != logits.shape or noise.device != logits.device:
            steps = max(1, min(self.STEPS, (1 << 16) // max(1, logits.numel())))
            noise = self.noise = logits.new_empty(steps, *logits.shape)
            self.z, self.next = torch.empty_like(logits), steps
        if self.next == len(noise):                      # log E, E kept above 0: −inf logits are never drawn
            noise.exponential_(generator=self.generator).clamp_(min=torch.finfo(noise.dtype).tiny).log_()
            self.next = 0
        log_e = noise[self.next]
        self.next += 1
        z = logits if self.temperature == 1 else torch.div(logits, self.temperature, out=self.z)
        return torch.sub(z, log_e, out=self.z).argmax(dim=-1)

    def from_output(self, a: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """A draw from ``softmax((a Wᵀ + b) / temperature)`` for an output layer ``W`` (V, H), ``b`` (V,):
        ``self(a Wᵀ + b)``. For one row in plain float32 sampling, where oneDNN's one-row GEMV applies
        (:func:`rnnkit.engine.kernels.base.one_row_gemv`), the noise rides in the bias, ``argmax(a Wᵀ + b −
        T log E)``, so a step is one GEMV and an argmax. Shapes: a (B, H) → ids (B,).
        """
        one_row = a.shape[0] == 1 and one_row_gemv(W)
        if not (one_row and self.plain and self.temperature > 0 and b is not None):
            return self(one_row_linear(a.contiguous(), W, b) if one_row else nn.functional.linear(a, W, b))
        V, key = W.shape[0], (b.data_ptr(), b._version)
        if self.biased is None or self.biased.shape[1] != V or self.biased.device != b.device:
            steps = max(1, min(self.STEPS, (1 << 16) // V))
            self.biased, self.biased_noise = b.new_empty(steps, V), b.new_empty(steps, V)
            self.next_biased = steps
        if self.next_biased == len(self.biased) or key != self.biased_key:   # new noise, or b was updated
            noise = self.biased_noise.exponential_(generator=self.generator)
            noise.clamp_(min=torch.finfo(noise.dtype).tiny).log_()
            torch.sub(b.detach(), noise, alpha=self.temperature, out=self.biased)
            self.next_biased, self.biased_key = 0, key
        row = self.biased[self.next_biased]
        self.next_biased += 1
        return one_row_linear(a.contiguous(), W, row).argmax(dim=-1)
