"""Vanilla RNN step: ``a<t> = g(xp<t> + W_aa a<t-1>)``, g = tanh or relu. The backward reads g'(z) from
``a<t>`` itself, which the loop keeps in ``S``, so there is nothing else to save: before the reverse loop
``K = g'(z)`` is computed for all steps at once (``1 − a²`` for tanh, ``[a > 0]`` for relu), and a step is
``dz = da K`` and ``d a<t-1> = W_aaᵀ dz``."""

from __future__ import annotations

import torch

from rnnkit.engine import native
from rnnkit.engine.kernels.base import Kernel, mm_into


class RNNTanhKernel(Kernel):
    stacked_input = True
    native_step = "rnn_tanh"
    compiled_loops = True
    relu = False

    def step(self, t, xp_t, prev, dest):
        torch.tanh(xp_t.addmm_(self.W_h, prev[0]), out=dest[0])               # a<t> = tanh(z)

    @staticmethod
    def derivative(a: torch.Tensor) -> torch.Tensor:
        return torch.mul(a, a).neg_().add_(1)                                  # tanh'(z) = 1 − a²

    def run_loop(self, S, reverse):
        native.rnn_forward(self.W_h, self.xp, S[0], reverse, self.relu, self.lengths)

    def run_loop_backward(self, d_out, d_state, reverse, x):
        da_0 = torch.empty_like(d_state[0])
        native.rnn_backward(self.W_h, self.new[0], self.dZ, d_out, d_state[0], da_0, reverse, self.relu,
                            self.lengths)
        return (da_0,)

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        if not self.looped:                      # the compiled loop reads g'(z) from a<t> itself
            self.K = self.derivative(new[0]).unbind(0)

    def back(self, t, d_new, acc):
        dz = torch.mul(d_new[0], self.K[t], out=self.dz[t])                   # dz = da g'(z)
        return (mm_into(acc, self.W_hT, dz),)                                  # d a<t-1> = W_aaᵀ dz


class RNNReLUKernel(RNNTanhKernel):
    native_step = "rnn_relu"
    relu = True

    def step(self, t, xp_t, prev, dest):
        torch.clamp_min(xp_t.addmm_(self.W_h, prev[0]), 0, out=dest[0])      # a<t> = relu(z)

    @staticmethod
    def derivative(a: torch.Tensor) -> torch.Tensor:
        return (a > 0).to(a.dtype)                                             # relu'(z) = [a > 0]
