"""Choosing the next token from ``ŷ<t>``: temperature, top-k, nucleus (top-p), greedy.

Sampling novel sequences is the one-to-many use of a language model: feed ``x<1>`` (a prime), sample
``y<1>`` from ``ŷ<1>``, feed it back as ``x<2>``, and so on. These helpers act on the logits ``z<t>`` of one
step, shape (B, V); each of the B rows is drawn independently, so a batch of N rows is N single draws.
:func:`batch_primes` makes one batch of primes of different lengths, and :func:`stepped_loss` scores text
through the same stepper sampling runs on. How a step is computed (fused weights, compiled kernels, the
output layer's draw) is the engine's: :mod:`rnnkit.engine.step`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnkit.engine import Stepper


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


class Noise:
    """``log E`` for a stream of draws of one shape, drawn for up to 64 steps at once (at most 2¹⁶ values).

    ``buf`` (S, *shape) holds the rows of the last refill; :meth:`take` hands them out in order and refills
    after the last; :meth:`restart` makes the next :meth:`take` refill.
    """

    STEPS = 64

    def __init__(self, like: torch.Tensor, generator: torch.Generator | None = None):
        self.generator = generator
        self.steps = max(1, min(self.STEPS, (1 << 16) // max(1, like.numel())))
        self.buf = like.new_empty(self.steps, *like.shape)
        self.next = self.steps                               # nothing drawn yet

    def fits(self, like: torch.Tensor) -> bool:
        return self.buf.shape[1:] == like.shape and self.buf.device == like.device

    def restart(self) -> None:
        self.next = self.steps

    def take(self) -> tuple[torch.Tensor, bool]:
        """(this step's row, whether the buffer was just refilled)."""
        redrawn = self.next == self.steps
        if redrawn:
            log_exponential_(self.buf, self.generator)
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
        self.noise: Noise | None = None
        self.z: torch.Tensor | None = None

    @property
    def noise_in_bias(self) -> bool:
        """Whether a draw is ``argmax(z / T − log E)`` with nothing else (T > 0, no top-k or top-p): then an
        output layer may fold ``−T log E`` into its bias (:class:`rnnkit.engine.step.OutputDraw`)."""
        return self.plain and self.temperature > 0

    def noise_for(self, like: torch.Tensor) -> Noise:
        """A new stream of ``log E`` rows shaped like ``like``, drawn from this sampler's generator."""
        return Noise(like, self.generator)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        if not self.plain or logits.dtype != torch.float32:
            return sample_next(logits, self.temperature, self.top_k, self.top_p, self.generator)
        if self.noise is None or not self.noise.fits(logits):
            self.noise, self.z = Noise(logits, self.generator), torch.empty_like(logits)
        log_e, _ = self.noise.take()
        z = logits if self.temperature == 1 else torch.div(logits, self.temperature, out=self.z)
        return torch.sub(z, log_e, out=self.z).argmax(dim=-1)


def batch_primes(primes, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Primes of possibly different lengths as one batch: (ids (B, T_max) padded with each row's last id,
    lengths (B,)).

    ``primes`` is a (B, T) tensor (every row of length T), or a list of (T_b,) tensors or lists of ids.
    Raises ``ValueError`` for an empty batch, an empty prime, or ids that are not integers.

    Example::

        ids, lengths = batch_primes([torch.tensor([1, 2, 3]), torch.tensor([4])])   # (2, 3), [3, 1]
    """
    if isinstance(primes, torch.Tensor):
        if primes.dim() != 2:
            raise ValueError(f"a batch of primes must be (B, T) ids or a list of (T,) id tensors, got shape "
                             f"{tuple(primes.shape)}")
        primes = list(primes)
    rows = [torch.as_tensor(p, device=device) for p in primes]
    if not rows:
        raise ValueError("the batch of primes is empty; give at least one prime")
    for b, row in enumerate(rows):
        if row.dim() != 1 or row.numel() == 0:
            raise ValueError(f"prime {b} must hold at least one token id as a (T,) tensor, got shape "
                             f"{tuple(row.shape)}; start an unprimed sample from a start token (e.g. <EOS>)")
        if row.dtype.is_floating_point or row.dtype.is_complex or row.dtype == torch.bool:
            raise ValueError(f"prime {b} must hold integer token ids, got dtype {row.dtype}")
    lengths = torch.tensor([len(r) for r in rows], device=rows[0].device)
    T = int(lengths.max())
    ids = torch.stack([torch.cat([r.long(), r[-1:].long().expand(T - len(r))]) for r in rows])
    return ids, lengths


@torch.no_grad()
def stepped_loss(model, ids: torch.Tensor, weights: str = "float32", streams: int = 16) -> float:
    """Mean ``−log P(y<t+1> | y<1…t>)`` in nats per token of ``ids`` (N,), read one step at a time through
    the generation stepper (:class:`rnnkit.engine.Stepper` with ``weights``), so it scores exactly what
    :meth:`LanguageModel.generate` samples from. The text is cut into ``streams`` equal pieces read side by
    side as one batch, each from the zero state (its first token is given, not scored); the tail that does
    not fill a piece is dropped. Compare two ``weights`` with the same ``streams``.
    """
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"stepped_loss needs (N,) ids with N >= 2, got shape {tuple(ids.shape)}")
    streams = max(1, min(streams, len(ids) // 2))                            # pieces of at least 2 tokens
    T = len(ids) // streams
    x = ids[:streams * T].view(streams, T)                                   # (B, T)
    stepper = Stepper(model.rnn, None, streams, device=ids.device, dtype=model.head.W_ya.dtype,
                      embedding=model.embedding, weights=weights)
    total = 0.0
    for t in range(T - 1):
        token = x[:, t]
        a_t = stepper.step(model.embed(token)) if model.embedding is None else stepper.step_ids(token)
        logits = model.head(a_t).float()
        total += float(nn.functional.cross_entropy(logits, x[:, t + 1], reduction="sum"))
    return total / (streams * (T - 1))
