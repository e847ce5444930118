"""LSTM step, plain and with peepholes. Layout (u, f, o, c): one σ over the first 3H rows, one tanh over the last H.

Saved per step: the gate activations ``G`` = [Γu; Γf; Γo; c̃] (T, 4H, B) and ``tanh(c<t>)`` (T, H, B).
Backward, with ``dc'`` the total gradient of ``c<t>``::

    dc' = dc + da * Γo * (1 − tanh²(c<t>))
    dΓu = dc' c̃,   dΓf = dc' c<t-1>,   dΓo = da tanh(c<t>),   dc̃ = dc' Γu
    dc<t-1> = dc' Γf  (+ Σ_g P_g dz_g with peepholes),   da<t-1> = W_hᵀ dz
"""

from __future__ import annotations

import torch

from rnnkit.engine.kernels.base import Kernel, sigmoid_backward, tanh_backward


class LSTMKernel(Kernel):
    state_names = ("a", "c")

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        self.G = self.buffer(self.GH)            # [Γu; Γf; Γo; c̃]
        self.TC = self.buffer(self.H)            # tanh(c<t>)

    def peephole(self, z, c_prev):
        """Add ``P * c<t-1>`` to the three sigmoid gates (only with peepholes)."""

    def step(self, t, xp_t, prev, dest):
        H, G = self.H, self.G[t]
        a_prev, c_prev = prev
        z = torch.addmm(xp_t, self.W_h, a_prev)                      # W [a<t-1>, x<t>] + b
        self.peephole(z, c_prev)
        torch.sigmoid(z[:3 * H], out=G[:3 * H])                      # Γu, Γf, Γo
        torch.tanh(z[3 * H:], out=G[3 * H:])                         # c̃
        c_t = torch.mul(G[H:2 * H], c_prev, out=dest[1])             # c<t> = Γf c<t-1> + Γu c̃
        c_t.addcmul_(G[:H], G[3 * H:])
        tc = torch.tanh(c_t, out=self.TC[t])
        torch.mul(G[2 * H:3 * H], tc, out=dest[0])                   # a<t> = Γo tanh(c<t>)

    def back(self, t, d_new, prev):
        H, G, dz, tc = self.H, self.G[t], self.dZ[t], self.TC[t]
        da, dc = d_new
        c_prev = prev[1]
        dc_t = tanh_backward(da * G[2 * H:3 * H], tc, grad_input=torch.empty_like(dc)).add_(dc)
        torch.mul(dc_t, G[3 * H:], out=dz[:H])                       # dΓu
        torch.mul(dc_t, c_prev, out=dz[H:2 * H])                     # dΓf
        torch.mul(da, tc, out=dz[2 * H:3 * H])                       # dΓo
        tanh_backward(dc_t * G[:H], G[3 * H:], grad_input=dz[3 * H:])
        sigmoid_backward(dz[:3 * H], G[:3 * H], grad_input=dz[:3 * H])
        dc_prev = self.peephole_backward(dc_t.mul_(G[H:2 * H]), dz)
        return self.W_hT.mm(dz), dc_prev

    def peephole_backward(self, dc_prev, dz):
        return dc_prev


class PeepholeLSTMKernel(LSTMKernel):
    """``Γ = σ(W [a<t-1>, x<t>] + P * c<t-1> + b)`` for Γu, Γf, Γo; ``extra`` is P (3, H)."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        self.P = extra.unsqueeze(2)              # (3, H, 1)

    def peephole(self, z, c_prev):
        z[:3 * self.H].view(3, self.H, -1).addcmul_(self.P, c_prev.unsqueeze(0))

    def peephole_backward(self, dc_prev, dz):
        return dc_prev.add_((dz[:3 * self.H].view(3, self.H, -1) * self.P).sum(0))

    def finish(self):
        dZ, H = self.dZ, self.H
        dZ_gates = dZ[:, :3 * H].reshape(self.T, 3, H, self.B)
        d_P = (dZ_gates * self.prev[1].unsqueeze(1)).sum((0, 3))
        return self.weight_grad(dZ, self.prev[0]), d_P
