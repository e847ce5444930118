"""Sequence losses of the notes, summed over time and masked for padding.

The notes define the loss of one sequence as the sum of the per-step losses, ``L = Σ_t L<t>(ŷ<t>, y<t>)``:

- softmax outputs, categorical cross-entropy: ``L<t> = −log ŷ<t>[y<t>]``;
- sigmoid outputs, the logistic loss per label: ``L<t> = Σ_k −y_k log ŷ_k − (1 − y_k) log(1 − ŷ_k)``.

``reduction`` picks how a batch is summarised:

- ``"sum"`` (default, the notes): ``Σ_t L<t>`` per sequence, averaged over the B sequences;
- ``"mean"``: the mean of ``L<t>`` over every real (unpadded) step, the per-token loss a language model
  reports (nats per token);
- ``"none"``: the (T, B) matrix of ``L<t>``, zero at padded steps.

Padding: pass ``lengths`` (B,) (steps ``t >= lengths[b]`` do not count) or a boolean ``mask`` (T, B).
Inputs are time-major: logits (T, B, n_y); use ``batch_first=True`` for (B, T, n_y) (and a (B, T) mask).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

REDUCTIONS = ("sum", "mean", "none")


def _mask(T: int, B: int, lengths, mask, device, batch_first: bool = False) -> torch.Tensor | None:
    if mask is not None:
        if batch_first:
            mask = mask.transpose(0, 1)
        if tuple(mask.shape) != (T, B):
            layout = "(B, T)" if batch_first else "(T, B)"
            raise ValueError(f"mask must have shape {layout}, got {tuple(mask.shape)}")
        return mask.to(device=device, dtype=torch.bool)
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=device)
        return torch.arange(T, device=device).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B)
    return None


def _reduce(losses: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if mask is not None:
        losses = losses.masked_fill(~mask, 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum() / losses.shape[1]
    count = mask.sum() if mask is not None else torch.tensor(losses.numel(), device=losses.device)
    return losses.sum() / count.clamp(min=1)


def sequence_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, lengths=None, mask=None,
                           reduction: str = "sum", batch_first: bool = False) -> torch.Tensor:
    """Categorical cross-entropy of softmax outputs, ``Σ_t −log ŷ<t>[y<t>]``.

    Shapes: logits (T, B, n_y), targets (T, B) class ids; see the module docstring for the rest.
    """
    if batch_first:
        logits, targets = logits.transpose(0, 1), targets.transpose(0, 1)
    T, B, n_y = logits.shape
    losses = F.cross_entropy(logits.reshape(T * B, n_y), targets.reshape(T * B), reduction="none")
    return _reduce(losses.view(T, B), _mask(T, B, lengths, mask, logits.device, batch_first), reduction)


def sequence_logistic_loss(logits: torch.Tensor, targets: torch.Tensor, lengths=None, mask=None,
                           reduction: str = "sum", batch_first: bool = False) -> torch.Tensor:
    """Logistic loss of sigmoid outputs, ``Σ_t Σ_k −y log ŷ − (1 − y) log(1 − ŷ)``.

    Shapes: logits and targets (T, B, K) (targets in [0, 1], e.g. multi-hot piano-roll frames).
    """
    if batch_first:
        logits, targets = logits.transpose(0, 1), targets.transpose(0, 1)
    T, B = logits.shape[:2]
    losses = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    losses = losses.reshape(T, B, -1).sum(dim=2)
    return _reduce(losses, _mask(T, B, lengths, mask, logits.device, batch_first), reduction)
