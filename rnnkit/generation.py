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
    ``softmax`` + ``torch.multinomial``). ``noise`` is a buffer shaped like ``z``, overwritten.
    Shapes: z (B, V) → ids (B,).
    """
    return torch.sub(z, log_exponential_(noise, generator), out=noise).argmax(dim=-1)


def log_exponential_(buf: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``buf`` with ``log E``, ``E ~ Exp(1)`` i.i.d., E kept above 0 (so a logit of −inf is never drawn)."""
    return buf.exponential_(generator=generator).clamp_(min=torch.finfo(buf.dtype).tiny).log_()


class _Noise:
    """``log E`` for a stream of draws of one shape, drawn for up to 64 steps at once (at most 2¹⁶ values)."""

    STEPS = 64

    def __init__(self, like: torch.Tensor):
        self.steps = max(1, min(self.STEPS, (1 << 16) // max(1, like.numel())))
        self.buf = like.new_empty(self.steps, *like.shape)
        self.next = self.steps                               # nothing drawn yet

    def fits(self, like: torch.Tensor) -> bool:
        return self.buf.shape[1:] == like.shape and self.buf.device == like.device

    def take(self, generator: torch.Generator | None) -> tuple[torch.Tensor, bool]:
        """(this step's row, whether the buffer was just redrawn)."""
        redrawn = self.next == self.steps
        if redrawn:
            log_exponential_(self.buf, generator)
            self.next = 0
        self.next += 1
        return self.buf[self.next - 1], redrawn


class Sampler:
    """Draws from ``softmax(z / temperature)`` under top-k / top-p for a stream of steps, like
    :func:`sample_next`. In the common case (no top-k or top-p, float32 logits) it draws the Gumbel noise
    of up to 64 steps at once into a buffer made once, so a step costs a subtraction and an argmax; the
    draws then differ from :func:`sample_next`'s for the same generator, and follow the same distribution.

    Example::

        sampler = Sampler(temperature=0.8, generator=torch.Generator().manual_seed(0))
        token = sampler(logits)             # (B, V) → (B,)
    """

    def __init__(self, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None):
        check_sampling(temperature, top_k, top_p)
        self.temperature, self.top_k, self.top_p, self.generator = temperature, top_k, top_p, generator
        self.plain = top_k is None and top_p is None
        self.noise: _Noise | None = None
        self.z: torch.Tensor | None = None
        # :meth:`from_output`: its own noise, and its rows b − T log E, made from b as it was at ``biased_key``.
        self.head_noise: _Noise | None = None
        self.biased: torch.Tensor | None = None
        self.biased_key: tuple | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        if not self.plain or logits.dtype != torch.float32:
            return sample_next(logits, self.temperature, self.top_k, self.top_p, self.generator)
        if self.noise is None or not self.noise.fits(logits):
            self.noise, self.z = _Noise(logits), torch.empty_like(logits)
        log_e, _ = self.noise.take(self.generator)
        z = logits if self.temperature == 1 else torch.div(logits, self.temperature, out=self.z)
        return torch.sub(z, log_e, out=self.z).argmax(dim=-1)

    def from_output(self, a: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """A draw from ``softmax((a Wᵀ + b) / temperature)`` for an output layer ``W`` (V, H), ``b`` (V,):
        ``self(a Wᵀ + b)``. For one row in plain float32 sampling, where a one-row GEMV applies (the compiled
        kernel or oneDNN's, :func:`rnnkit.engine.kernels.base.one_row_gemv`), the noise rides in the bias,
        ``argmax(a Wᵀ + b − T log E)``, so a step is one GEMV and an argmax. Shapes: a (B, H) → ids (B,).
        """
        one_row = a.shape[0] == 1 and one_row_gemv(W)
        if not (one_row and self.plain and self.temperature > 0 and b is not None):
            return self(one_row_linear(a.contiguous(), W, b) if one_row else nn.functional.linear(a, W, b))
        if self.head_noise is None or not self.head_noise.fits(b):
            self.head_noise = _Noise(b)
            self.biased = torch.empty_like(self.head_noise.buf)
        key = (b.data_ptr(), b._version)
        if key != self.biased_key:                           # b was updated: redraw, so that b is current
            self.head_noise.next = self.head_noise.steps
        _, redrawn = self.head_noise.take(self.generator)
        if redrawn:
            torch.sub(b.detach(), self.head_noise.buf, alpha=self.temperature, out=self.biased)
            self.biased_key = key
        return one_row_linear(a.contiguous(), W, self.biased[self.head_noise.next - 1]).argmax(dim=-1)
