"""Pooling for many-to-one models: the top layer's outputs ``a<1> … a<T_x>`` of each sequence → one vector.

Every pooling reads only the valid steps of each sequence (``t < lengths[b]``): what lies in the padding never
counts, whatever its values, so a sequence pools to the same vector alone or in a padded batch.

| name | pooled vector |
|---|---|
| ``last`` | the final state: ``a<T_x>`` (unidirectional); ``[a→<T_x>, a←<1>]`` (bidirectional) |
| ``mean`` | ``(1 / T_x) Σ_t a<t>`` |
| ``max`` | ``max_t a<t>``, per component |
| ``attention`` | ``Σ_t α<t> a<t>`` with ``e<t> = v · tanh(W_e a<t> + b_e)``, ``α = softmax(e)`` over the valid steps |

Shapes (D = 2 if bidirectional else 1): outputs (B, T, D·H); lengths (B,); state as :class:`rnnkit.Recurrent`
returns it (one (L·D, B, H) tensor per state name); pooled (B, D·H); attention weights α (B, T).

Example::

    rnn = rnnkit.LSTM(8, 16, bidirectional=True, batch_first=True)
    y, state = rnn(x, lengths=lengths)                         # y: (B, T, 32)
    pooled = make_pooling("attention", 32)(y, lengths, state)  # (B, 32)
"""

from __future__ import annotations

import math

import torch
from torch import nn


def valid_steps(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T) bool: ``mask[b, t]`` is whether step t exists in sequence b (``t < lengths[b]``)."""
    return torch.arange(T, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class Pooling(nn.Module):
    """Base class: ``forward(outputs, lengths, state=None) -> pooled`` (see the module docstring)."""

    name = ""

    def forward(self, outputs: torch.Tensor, lengths: torch.Tensor, state: tuple | None = None) -> torch.Tensor:
        raise NotImplementedError


class LastPooling(Pooling):
    """The final state of the top layer: ``a<T_x>``, or ``[a→<T_x>, a←<1>]`` for a bidirectional layer.

    Read from the layer's returned ``state`` (its first tensor, ``a``: the last ``D`` rows are the top layer's
    directions, in ``torch.nn`` order, each already taken at the sequence's own last step). Without ``state``,
    the same vectors are gathered from ``outputs``: the forward half at step ``lengths - 1``, the backward half
    at step 0.
    """

    name = "last"

    def __init__(self, num_directions: int = 1):
        super().__init__()
        if num_directions not in (1, 2):
            raise ValueError(f"num_directions must be 1 or 2, got {num_directions}")
        self.num_directions = num_directions

    def forward(self, outputs, lengths, state=None):
        D = self.num_directions
        if state is not None:
            a = state[0] if isinstance(state, (tuple, list)) else state     # (L·D, B, H)
            return torch.cat(list(a[-D:]), dim=1)                          # (B, D·H)
        B, _, DH = outputs.shape
        H = DH // D
        last = (lengths - 1).view(B, 1, 1).expand(B, 1, H)
        forward_last = outputs[:, :, :H].gather(1, last)[:, 0]             # a→<T_x>
        return forward_last if D == 1 else torch.cat([forward_last, outputs[:, 0, H:]], dim=1)   # a←<1>


class MeanPooling(Pooling):
    """``(1 / T_x) Σ_{t ≤ T_x} a<t>``: the average over each sequence's own steps."""

    name = "mean"

    def forward(self, outputs, lengths, state=None):
        mask = valid_steps(lengths, outputs.shape[1]).unsqueeze(2)           # (B, T, 1)
        total = outputs.masked_fill(~mask, 0.0).sum(dim=1)                  # (B, D·H)
        return total / lengths.unsqueeze(1).to(outputs.dtype)


class MaxPooling(Pooling):
    """``max_{t ≤ T_x} a<t>`` per component; padded steps are set to −∞ first, so they never win (even when
    every valid output is negative and the padding holds zeros)."""

    name = "max"

    def forward(self, outputs, lengths, state=None):
        mask = valid_steps(lengths, outputs.shape[1]).unsqueeze(2)
        return outputs.masked_fill(~mask, float("-inf")).amax(dim=1)


class AttentionPooling(Pooling):
    """Additive attention over time::

        e<t> = v · tanh(W_e a<t> + b_e)          a score per step
        α<t> = exp(e<t>) / Σ_{t' ≤ T_x} exp(e<t'>) softmax over the valid steps (α<t> = 0 exactly past T_x)
        pooled = Σ_t α<t> a<t>

    Shapes: ``W_e`` (A, D·H), ``b_e`` (A,), ``v`` (A,), with A = ``attention_size`` (default D·H).
    ``forward(..., return_weights=True)`` also returns α (B, T) for inspection.
    """

    name = "attention"

    def __init__(self, input_size: int, attention_size: int | None = None):
        super().__init__()
        A = int(attention_size or input_size)
        if input_size < 1 or A < 1:
            raise ValueError(f"input_size and attention_size must be positive, got {input_size} and {A}")
        self.input_size, self.attention_size = int(input_size), A
        self.W_e = nn.Parameter(torch.empty(A, input_size))
        self.b_e = nn.Parameter(torch.empty(A))
        self.v = nn.Parameter(torch.empty(A))
        k, k_v = 1.0 / math.sqrt(input_size), 1.0 / math.sqrt(A)
        with torch.no_grad():
            self.W_e.uniform_(-k, k)
            self.b_e.uniform_(-k, k)
            self.v.uniform_(-k_v, k_v)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """``e<t> = v · tanh(W_e a<t> + b_e)``: (B, T, D·H) → (B, T)."""
        return torch.tanh(nn.functional.linear(outputs, self.W_e, self.b_e)) @ self.v

    def weights(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """α (B, T): the softmax of the scores over each sequence's valid steps, exactly 0 on padded steps."""
        e = self.scores(outputs).masked_fill(~valid_steps(lengths, outputs.shape[1]), float("-inf"))
        return torch.softmax(e, dim=1)

    def forward(self, outputs, lengths, state=None, return_weights: bool = False):
        alpha = self.weights(outputs, lengths)                              # (B, T)
        # Padded outputs are zeroed too: α = 0 there, but 0 · (inf or nan garbage) would still be nan.
        valid = valid_steps(lengths, outputs.shape[1]).unsqueeze(2)
        pooled = torch.einsum("bt,btd->bd", alpha, outputs.masked_fill(~valid, 0.0))   # Σ_t α<t> a<t>
        return (pooled, alpha) if return_weights else pooled

    def extra_repr(self) -> str:
        return f"{self.input_size}, attention_size={self.attention_size}"


POOLINGS = ("last", "mean", "max", "attention")


def make_pooling(name: str, input_size: int, num_directions: int = 1, attention_size: int | None = None) -> Pooling:
    """The pooling called ``name`` (one of :data:`POOLINGS`) over outputs of size ``input_size`` (D·H)."""
    if name == "last":
        return LastPooling(num_directions)
    if name == "mean":
        return MeanPooling()
    if name == "max":
        return MaxPooling()
    if name == "attention":
        return AttentionPooling(input_size, attention_size)
    raise ValueError(f"unknown pooling {name!r}: choose one of {', '.join(POOLINGS)}")
