"""Vanilla RNN step: ``a<t> = g(xp<t> + W_aa a<t-1>)``, g = tanh or relu; no buffers beyond the states."""

from __future__ import annotations

import torch

from rnnkit.engine.kernels.base import Kernel, tanh_backward


class RNNTanhKernel(Kernel):
    def step(self, k, xp_k, prev, dest):
        torch.tanh(torch.addmm(xp_k, prev[0], self.W_hT), out=dest[0])        # a<t> = tanh(z)

    def activation_backward(self, d_a, a, out):
        tanh_backward(d_a, a, grad_input=out)

    def back(self, k, d_new, prev, new):
        dz = self.dZ[k]
        self.activation_backward(d_new[0], new[0], dz)                        # dz = da * g'(z)
        return (dz.mm(self.W_h),)                                             # d a<t-1> = dz W_aa

    def finish(self, S):
        return self.dZ, self.recurrent_weight_grad(self.dZ, S[0][:-1]), None


class RNNReLUKernel(RNNTanhKernel):
    def step(self, k, xp_k, prev, dest):
        torch.clamp_min(torch.addmm(xp_k, prev[0], self.W_hT), 0, out=dest[0])  # a<t> = relu(z)

    def activation_backward(self, d_a, a, out):
        torch.mul(d_a, a > 0, out=out)                                        # relu'(z) = [a > 0]
