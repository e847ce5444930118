"""Vanilla RNN step: ``a<t> = g(xp<t> + W_aa a<t-1>)``, g = tanh or relu. The backward reads g'(z) from
``a<t>`` itself, which the loop keeps in ``S``, so there is nothing else to save."""

from __future__ import annotations

import torch

from rnnkit.engine.kernels.base import Kernel, tanh_backward


class RNNTanhKernel(Kernel):
    def step(self, t, xp_t, prev, dest):
        torch.tanh(torch.addmm(xp_t, self.W_h, prev[0]), out=dest[0])          # a<t> = tanh(z)

    def activation_backward(self, d_a, a, out):
        tanh_backward(d_a, a, grad_input=out)

    def back(self, t, d_new, prev):
        dz = self.dZ[t]
        self.activation_backward(d_new[0], self.new[0][t], dz)               # dz = da g'(z)
        return (self.W_hT.mm(dz),)                                             # d a<t-1> = W_aaᵀ dz


class RNNReLUKernel(RNNTanhKernel):
    def step(self, t, xp_t, prev, dest):
        torch.clamp_min(torch.addmm(xp_t, self.W_h, prev[0]), 0, out=dest[0])   # a<t> = relu(z)

    def activation_backward(self, d_a, a, out):
        torch.mul(d_a, a > 0, out=out)                                         # relu'(z) = [a > 0]
