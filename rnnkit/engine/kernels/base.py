"""The contract between the time loop (:mod:`rnnkit.engine.bptt`) and one cell's hand-written step.

A kernel is built once per call for a sequence of T steps and a batch of B. The loop owns the states
``S`` (one (T+1, B, H) buffer per state name, ``S[k]`` the state before loop step k, ``S[0]`` the initial
state); the kernel keeps whatever else its backward needs (gate activations) in (T, …) buffers allocated
once, and the gradient of the input projection ``dZ`` (T, B, G·H), filled step by step in reverse. All
weight gradients are then one GEMM over every step (:meth:`finish`), never a per-step update.

``xp`` is the input projection of all steps, ``W_x x<t> + b`` (T, B, G·H), computed by one GEMM before
the loop; the kernel adds the recurrent part ``W_h a<t-1>``.
"""

from __future__ import annotations

import torch

# One kernel each, written into a given buffer: grad * s * (1 - s) from s = σ(z), grad * (1 - t²) from
# t = tanh(z). Called as f(grad, activation, grad_input=out).
sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
tanh_backward = torch.ops.aten.tanh_backward.grad_input


class Kernel:
    """One cell's step forward and backward over preallocated buffers; subclasses fill in the equations."""

    state_names: tuple[str, ...] = ("a",)

    def __init__(self, W_h: torch.Tensor, extra: torch.Tensor | None, xp: torch.Tensor):
        self.W_h = W_h                    # (G·H, H)
        self.W_hT = W_h.t()               # (H, G·H): a<t-1> @ W_hT is the recurrent part of every gate
        self.extra = extra
        self.T, self.B, self.GH = xp.shape
        self.H = W_h.shape[1]
        self.dZ: torch.Tensor | None = None

    def buffer(self, width: int) -> torch.Tensor:
        """An uninitialised (T, B, width) buffer like the input projection."""
        return torch.empty(self.T, self.B, width, dtype=self.W_h.dtype, device=self.W_h.device)

    def step(self, k: int, xp_k: torch.Tensor, prev: tuple, dest: tuple) -> None:
        """Loop step k: write the new state into ``dest`` from ``prev`` (each (B, H)) and ``xp_k`` (B, G·H)."""
        raise NotImplementedError

    def back(self, k: int, d_new: tuple, prev: tuple, new: tuple) -> tuple:
        """Loop step k in reverse: from the gradient of the new state, fill ``dZ[k]`` and return the
        gradient of ``prev`` through the cell. ``new`` is the stored state after step k (rows past a
        sequence's end hold the old state there, but their ``d_new`` is zero)."""
        raise NotImplementedError

    def finish(self, S: list) -> tuple:
        """After the reverse loop: (d xp (T, B, G·H), d W_h (G·H, H), d extra or None)."""
        raise NotImplementedError

    def start_backward(self) -> None:
        self.dZ = self.buffer(self.GH)

    def recurrent_weight_grad(self, dZ: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Σ_t dZ<t>ᵀ inputs<t> as one GEMM: (T, B, n) × (T, B, H) → (n, H)."""
        return dZ.reshape(-1, dZ.shape[-1]).t().mm(inputs.reshape(-1, inputs.shape[-1]))
