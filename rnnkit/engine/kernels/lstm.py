"""LSTM step, plain and with peepholes. Layout (u, f, o, c): one σ over the first 3H, one tanh over the last H.

Saved per step: the gate activations ``G`` = [Γu, Γf, Γo, c̃] (T, B, 4H) and ``tanh(c<t>)`` (T, B, H).
Backward, with ``dc'`` the total gradient of ``c<t>``::

    dc' = dc + da * Γo * (1 − tanh²(c<t>))
    dΓu = dc' c̃,   dΓf = dc' c<t-1>,   dΓo = da tanh(c<t>),   dc̃ = dc' Γu
    dc<t-1> = dc' Γf  (+ Σ_g P_g dz_g with peepholes),   da<t-1> = dz W_h
"""

from __future__ import annotations

import torch

from rnnkit.engine.kernels.base import Kernel, sigmoid_backward, tanh_backward


class LSTMKernel(Kernel):
    state_names = ("a", "c")

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        self.G = self.buffer(self.GH)            # [Γu, Γf, Γo, c̃]
        self.TC = self.buffer(self.H)            # tanh(c<t>)

    def peephole(self, z, c_prev):
        """Add ``P * c<t-1>`` to the three sigmoid gates (only with peepholes)."""

    def step(self, k, xp_k, prev, dest):
        H, G = self.H, self.G[k]
        a_prev, c_prev = prev
        z = torch.addmm(xp_k, a_prev, self.W_hT)                     # W [a<t-1>, x<t>] + b
        self.peephole(z, c_prev)
        torch.sigmoid(z[:, :3 * H], out=G[:, :3 * H])                # Γu, Γf, Γo
        torch.tanh(z[:, 3 * H:], out=G[:, 3 * H:])                   # c̃
        c_t = torch.mul(G[:, H:2 * H], c_prev, out=dest[1])          # c<t> = Γf c<t-1> + Γu c̃
        c_t.addcmul_(G[:, :H], G[:, 3 * H:])
        tc = torch.tanh(c_t, out=self.TC[k])
        torch.mul(G[:, 2 * H:3 * H], tc, out=dest[0])                # a<t> = Γo tanh(c<t>)

    def back(self, k, d_new, prev, new):
        H, G, dz, tc = self.H, self.G[k], self.dZ[k], self.TC[k]
        da, dc = d_new
        c_prev = prev[1]
        dc_t = tanh_backward(da * G[:, 2 * H:3 * H], tc, grad_input=torch.empty_like(dc)).add_(dc)
        torch.mul(dc_t, G[:, 3 * H:], out=dz[:, :H])                 # dΓu
        torch.mul(dc_t, c_prev, out=dz[:, H:2 * H])                  # dΓf
        torch.mul(da, tc, out=dz[:, 2 * H:3 * H])                    # dΓo
        tanh_backward(dc_t * G[:, :H], G[:, 3 * H:], grad_input=dz[:, 3 * H:])
        sigmoid_backward(dz[:, :3 * H], G[:, :3 * H], grad_input=dz[:, :3 * H])
        dc_prev = self.peephole_backward(dc_t.mul_(G[:, H:2 * H]), dz)
        return dz.mm(self.W_h), dc_prev

    def peephole_backward(self, dc_prev, dz):
        return dc_prev

    def finish(self, S):
        return self.dZ, self.recurrent_weight_grad(self.dZ, S[0][:-1]), None


class PeepholeLSTMKernel(LSTMKernel):
    """``Γ = σ(W [a<t-1>, x<t>] + P * c<t-1> + b)`` for Γu, Γf, Γo; ``extra`` is P (3, H)."""

    def peephole(self, z, c_prev):
        z[:, :3 * self.H].view(-1, 3, self.H).addcmul_(c_prev.unsqueeze(1), self.extra)

    def peephole_backward(self, dc_prev, dz):
        dz_gates = dz[:, :3 * self.H].view(-1, 3, self.H)
        return dc_prev.add_((dz_gates * self.extra).sum(1))

    def finish(self, S):
        dZ, H = self.dZ, self.H
        d_P = (dZ[..., :3 * H].reshape(self.T, self.B, 3, H) * S[1][:-1].unsqueeze(2)).sum((0, 1))
        return dZ, self.recurrent_weight_grad(dZ, S[0][:-1]), d_P
