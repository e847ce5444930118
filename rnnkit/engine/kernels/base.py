"""The contract between the time loop (:mod:`rnnkit.engine.bptt`) and one cell's hand-written step.

Inside the loop every per-step tensor is stored *feature-major*, ``(features, B)``: a state is (H, B), the
gate pre-activations of all gates are (G·H, B), so each gate's block ``z[g·H:(g+1)·H]`` is contiguous and
the elementwise kernels run on contiguous memory (on a 2-core CPU about 1.6× faster than slicing the
columns of a (B, G·H) row-major tensor). The recurrent GEMM reads ``z = xp<t> + W_h a<t-1>``.

A kernel is built once per call for T steps, indexed by time t (the backward direction simply visits
t = T-1 … 0). The loop owns the states; the kernel keeps what its backward needs (gate activations) in
(T, …, B) buffers allocated once, and fills the gradient of the gate pre-activations ``dZ`` (T, G·H, B)
step by step in reverse. Weight gradients are accumulated after the loop (:meth:`finish`).
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
        self.extra = extra
        self.T, self.GH, self.B = xp.shape
        self.H = W_h.shape[1]
        self.dZ: torch.Tensor | None = None

    def buffer(self, rows: int) -> torch.Tensor:
        """An uninitialised (T, rows, B) buffer."""
        return torch.empty(self.T, rows, self.B, dtype=self.W_h.dtype, device=self.W_h.device)

    def step(self, t: int, xp_t: torch.Tensor, prev: tuple, dest: tuple) -> None:
        """Step t: write the new state into ``dest`` from ``prev`` (each (H, B)) and ``xp_t`` (G·H, B)."""
        raise NotImplementedError

    def back(self, t: int, d_new: tuple, prev: tuple) -> tuple:
        """Step t in reverse: from the gradient of the new state, fill ``dZ[t]`` and return the gradient
        of ``prev`` through the cell."""
        raise NotImplementedError

    def start_backward(self, prev: list, new: list) -> None:
        """Before the reverse loop: ``prev[i][t]`` / ``new[i][t]`` are state i before / after step t (T, H, B)."""
        self.prev, self.new = prev, new
        self.W_hT = self.W_h.t()
        self.dZ = self.buffer(self.GH)

    def finish(self) -> tuple:
        """After the reverse loop: (d W_h (G·H, H), d extra or None); ``dZ`` is the gradient of ``xp``."""
        return self.weight_grad(self.dZ, self.prev[0]), None

    @staticmethod
    def weight_grad(dZ: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Σ_t dZ<t> inputs<t>ᵀ: (T, n, B) × (T, m, B) → (n, m), one K = B GEMM per step accumulated in place
        (a single GEMM would need both operands transposed to (n, T·B) first, which costs more on a CPU)."""
        out = dZ[0].mm(inputs[0].t())
        for t in range(1, dZ.shape[0]):
            out.addmm_(dZ[t], inputs[t].t())
        return out
