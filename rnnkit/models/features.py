"""The input transform of feature sequences: optional centring on a joint, optional deltas, normalisation.

For a sequence of feature vectors ``x<1> … x<T_x>`` (F components each), in this order:

1. centring (``center_joint = j``, 1-based): the features are groups of ``joint_dims`` coordinates per joint
   (x, y, z for skeleton data); joint j's coordinates are subtracted from every joint's, so the sequence no
   longer depends on where the body stands: ``x̃<t>[k] = x<t>[k] − x<t>[j, k mod joint_dims]``;
2. deltas (``deltas=True``): ``Δ<t> = x̃<t> − x̃<t-1>``, with ``Δ<1> = 0``, appended: ``[x̃<t>, Δ<t>]``
   (2F components); each sequence's first step is its own, so padding never leaks in;
3. normalisation: ``(z − mean) / std`` per component, with ``mean`` and ``std`` learned by :meth:`fit` on the
   training sequences (over all their steps) and kept as buffers, so they are saved with the weights.

A component that is constant on the training data (the centre joint itself is 0 after centring) would give
``std = 0``; the floor ``std ≥ max(1e-3 · s̄, 1e-6)``, with ``s̄`` the mean std of its group (the F centred
features, or the F deltas), keeps such a component near 0 instead of magnifying noise a millionfold.

Shapes: x (B, T, F), lengths (B,) → (B, T, F_out) with F_out = F · (2 if deltas else 1), zero past each end.

Example::

    transform = FeatureTransform(60, center_joint=1, deltas=True)     # 20 joints × (x, y, z)
    transform.fit(train_sequences)                                     # a list of (T, 60) arrays
    z = transform(x, lengths)                                          # (B, T, 120)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnkit.models.pooling import valid_steps

STD_FLOOR_RELATIVE = 1e-3
STD_FLOOR_ABSOLUTE = 1e-6


class FeatureTransform(nn.Module):
    """Centring, deltas and normalisation of feature sequences (see the module docstring).

    Buffers (in the ``state_dict``): ``mean``, ``std`` (F_out,), and ``fitted`` (a 0-d bool): until
    :meth:`fit` runs (or a fitted state_dict is loaded), calling the transform raises.
    """

    def __init__(self, num_features: int, center_joint: int | None = None, joint_dims: int = 3,
                 deltas: bool = False):
        super().__init__()
        if int(num_features) < 1:
            raise ValueError(f"num_features must be positive, got {num_features}")
        self.num_features = F = int(num_features)
        self.joint_dims = int(joint_dims)
        if center_joint is not None:
            if self.joint_dims < 1 or F % self.joint_dims:
                raise ValueError(f"center_joint needs features in groups of joint_dims = {joint_dims} per joint, "
                                 f"but num_features = {F} is not a multiple of it")
            joints = F // self.joint_dims
            if not 1 <= int(center_joint) <= joints:
                raise ValueError(f"center_joint is 1-based and there are {joints} joints, got {center_joint}")
        self.center_joint = None if center_joint is None else int(center_joint)
        self.deltas = bool(deltas)
        self.output_size = F * (2 if self.deltas else 1)
        self.register_buffer("mean", torch.zeros(self.output_size))
        self.register_buffer("std", torch.ones(self.output_size))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Steps 1–2 (centring, deltas), before normalisation: (B, T, F) → (B, T, F_out)."""
        if x.dim() != 3 or x.shape[2] != self.num_features:
            raise ValueError(f"expected features of shape (B, T, F) with F = {self.num_features}, "
                             f"got {tuple(x.shape)}")
        if self.center_joint is not None:
            B, T, F = x.shape
            joints = x.reshape(B, T, F // self.joint_dims, self.joint_dims)
            centre = joints[:, :, self.center_joint - 1:self.center_joint]          # (B, T, 1, joint_dims)
            x = (joints - centre).reshape(B, T, F)                                  # x̃<t>
        if not self.deltas:
            return x
        delta = torch.zeros_like(x)
        delta[:, 1:] = x[:, 1:] - x[:, :-1]                                         # Δ<t> = x̃<t> − x̃<t-1>, Δ<1> = 0
        if lengths is not None:                                                     # past the end: nothing
            delta = delta.masked_fill(~_valid(lengths, x), 0.0)
        return torch.cat([x, delta], dim=2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(features(x) − mean) / std``, zero at padded steps: (B, T, F) → (B, T, F_out)."""
        if not self.is_fitted:
            raise RuntimeError("the FeatureTransform has not been fitted: call .fit(train_sequences) with the "
                               "training sequences (a list of (T, F) arrays) before using it, or load a "
                               "fitted state_dict")
        z = (self.features(x, lengths) - self.mean) / self.std
        if lengths is not None:
            z = z.masked_fill(~_valid(lengths, x), 0.0)
        return z

    @torch.no_grad()
    def fit(self, sequences) -> FeatureTransform:
        """Learn ``mean`` and ``std`` (population, over every step of every sequence) of the centred features
        and deltas of ``sequences``: a list of (T, F) arrays or tensors, unpadded. Returns ``self``."""
        parts = []
        for i, seq in enumerate(sequences):
            seq = torch.as_tensor(np.asarray(seq), dtype=torch.float64)
            if seq.dim() != 2 or seq.shape[0] < 1 or seq.shape[1] != self.num_features:
                raise ValueError(f"sequence {i} has shape {tuple(seq.shape)}; expected (T, {self.num_features}) "
                                 "with T ≥ 1")
            parts.append(self.features(seq.unsqueeze(0))[0])
        if not parts:
            raise ValueError("fit needs at least one sequence")
        z = torch.cat(parts)                                                        # (Σ T, F_out)
        mean, std = z.mean(dim=0), z.std(dim=0, correction=0)
        groups = std.view(-1, self.num_features)                                    # (1 or 2, F)
        floor = (STD_FLOOR_RELATIVE * groups.mean(dim=1, keepdim=True)).clamp(min=STD_FLOOR_ABSOLUTE)
        std = torch.maximum(groups, floor).view(-1)
        self.mean.copy_(mean)
        self.std.copy_(std)
        self.fitted.fill_(True)
        return self

    def extra_repr(self) -> str:
        opts = [str(self.num_features)]
        if self.center_joint is not None:
            opts += [f"center_joint={self.center_joint}", f"joint_dims={self.joint_dims}"]
        if self.deltas:
            opts.append("deltas=True")
        return ", ".join(opts) + ("" if self.is_fitted else ", not fitted")


def _valid(lengths, x: torch.Tensor) -> torch.Tensor:
    """(B, T, 1) bool: the valid steps of ``x`` (B, T, ·)."""
    return valid_steps(torch.as_tensor(lengths, device=x.device), x.shape[1]).unsqueeze(2)
