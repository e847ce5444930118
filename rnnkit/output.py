"""The output layer of the notes: ``ŷ<t> = g(W_ya a<t> + b_y)``."""

from __future__ import annotations

import math

import torch
from torch import nn


class OutputLayer(nn.Module):
    """``ŷ<t> = g(W_ya a<t> + b_y)`` with g = softmax (one class per step) or sigmoid (independent labels).

    ``forward`` returns the pre-activation ``z<t> = W_ya a<t> + b_y`` (the logits), which the losses in
    :mod:`rnnkit.losses` take for numerical stability; :meth:`predict` applies g.

    Shapes: ``a`` (..., H) → (..., n_y); ``W_ya`` (n_y, H); ``b_y`` (n_y,).

    Example::

        head = OutputLayer(16, 10)
        y_hat = head.predict(torch.randn(5, 2, 16))    # (5, 2, 10), rows sum to 1
    """

    def __init__(self, hidden_size: int, output_size: int, activation: str = "softmax", device=None, dtype=None):
        super().__init__()
        if activation not in ("softmax", "sigmoid"):
            raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}")
        self.activation = activation
        self.W_ya = nn.Parameter(torch.empty(output_size, hidden_size, device=device, dtype=dtype))
        self.b_y = nn.Parameter(torch.empty(output_size, device=device, dtype=dtype))
        k = 1.0 / math.sqrt(hidden_size)
        with torch.no_grad():
            self.W_ya.uniform_(-k, k)
            self.b_y.uniform_(-k, k)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(a, self.W_ya, self.b_y)    # z<t> = W_ya a<t> + b_y

    def predict(self, a: torch.Tensor) -> torch.Tensor:
        z = self(a)
        return torch.softmax(z, dim=-1) if self.activation == "softmax" else torch.sigmoid(z)
