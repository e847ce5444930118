"""GRU steps: the simplified GRU, the full GRU with the reset before the matmul (the default), and after it.

All three end in ``c<t> = Γu * c̃ + (1 − Γu) * c<t-1>``, which is ``torch.lerp(c<t-1>, c̃, Γu)``, with the
gradients ``dc̃ = dc Γu``, ``dΓu = dc (c̃ − c<t-1>)``, ``dc<t-1> = dc (1 − Γu)``. Gate activations are saved
per step in ``G`` (T, G·H, B), rows in the layout of the fused weights.
"""

from __future__ import annotations

import torch

from rnnkit.engine.kernels.base import Kernel, sigmoid_backward, tanh_backward


class SimpleGRUKernel(Kernel):
    """Layout (u, c): ``Γu = σ(z_u)``, ``c̃ = tanh(z_c)``, z = xp + W_h c<t-1>."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        self.G = self.buffer(self.GH)

    def step(self, t, xp_t, prev, dest):
        H, G = self.H, self.G[t]
        z = torch.addmm(xp_t, self.W_h, prev[0])
        torch.sigmoid(z[:H], out=G[:H])                             # Γu
        torch.tanh(z[H:], out=G[H:])                                # c̃
        torch.lerp(prev[0], G[H:], G[:H], out=dest[0])              # c<t> = Γu c̃ + (1 − Γu) c<t-1>

    def back(self, t, d_new, prev):
        H, G, dz = self.H, self.G[t], self.dZ[t]
        dc, c_prev = d_new[0], prev[0]
        gamma_u, c_tilde = G[:H], G[H:]
        dc_u = dc * gamma_u
        sigmoid_backward(dc * (c_tilde - c_prev), gamma_u, grad_input=dz[:H])
        tanh_backward(dc_u, c_tilde, grad_input=dz[H:])
        return (torch.addmm(dc - dc_u, self.W_hT, dz),)


class GRUKernel(Kernel):
    """Layout (r, u, c), reset before the matmul: ``c̃ = tanh(xp_c + W_cc (Γr * c<t-1>))``."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        H = self.H
        self.G = self.buffer(self.GH)            # [Γr; Γu; c̃]
        self.RC = self.buffer(H)                 # Γr * c<t-1>, what W_cc reads
        # Per-step views of every block, made once (unbind) instead of sliced in the loop.
        self.xp_ru, self.xp_c = xp[:, :2 * H].unbind(0), xp[:, 2 * H:].unbind(0)
        self.ru, self.r, self.u, self.c_tilde = (self.G[:, :2 * H].unbind(0), self.G[:, :H].unbind(0),
                                                 self.G[:, H:2 * H].unbind(0), self.G[:, 2 * H:].unbind(0))
        self.rc = self.RC.unbind(0)
        self.W_ru, self.W_cc = self.W_h[:2 * H], self.W_h[2 * H:]

    def step(self, t, xp_t, prev, dest):
        c_prev = prev[0]
        torch.sigmoid(torch.addmm(self.xp_ru[t], self.W_ru, c_prev), out=self.ru[t])       # Γr, Γu
        rc = torch.mul(self.r[t], c_prev, out=self.rc[t])                                  # Γr * c<t-1>
        torch.tanh(torch.addmm(self.xp_c[t], self.W_cc, rc), out=self.c_tilde[t])         # c̃
        torch.lerp(c_prev, self.c_tilde[t], self.u[t], out=dest[0])

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        H = self.H
        self.dz_ru, self.dz_r, self.dz_u, self.dz_c = (self.dZ[:, :2 * H].unbind(0), self.dZ[:, :H].unbind(0),
                                                       self.dZ[:, H:2 * H].unbind(0), self.dZ[:, 2 * H:].unbind(0))
        self.W_ruT, self.W_ccT = self.W_ru.t(), self.W_cc.t()

    def back(self, t, d_new, prev):
        dc, c_prev = d_new[0], prev[0]
        gamma_r, gamma_u, c_tilde, dz_c = self.r[t], self.u[t], self.c_tilde[t], self.dz_c[t]
        dc_u = dc * gamma_u
        tanh_backward(dc_u, c_tilde, grad_input=dz_c)                            # dz_c
        sigmoid_backward(dc * (c_tilde - c_prev), gamma_u, grad_input=self.dz_u[t])
        d_rc = self.W_ccT.mm(dz_c)                                               # d(Γr * c<t-1>)
        sigmoid_backward(d_rc * c_prev, gamma_r, grad_input=self.dz_r[t])
        dc_prev = torch.addcmul(dc - dc_u, d_rc, gamma_r)
        return (dc_prev.addmm_(self.W_ruT, self.dz_ru[t]),)

    def finish(self):
        H, dZ = self.H, self.dZ
        dW_h = torch.cat([self.weight_grad(dZ[:, :2 * H], self.prev[0]), self.weight_grad(dZ[:, 2 * H:], self.RC)])
        return dW_h, None


class GRUResetAfterKernel(Kernel):
    """Layout (r, u, c), reset after the matmul: ``c̃ = tanh(xp_c + Γr * (W_cc c<t-1> + b_cc))``."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        self.G = self.buffer(self.GH)            # [Γr; Γu; c̃]
        self.N = self.buffer(self.H)             # W_cc c<t-1> + b_cc
        self.b_cc = None if extra is None else extra.unsqueeze(1)

    def step(self, t, xp_t, prev, dest):
        H, G, W_h, n = self.H, self.G[t], self.W_h, self.N[t]
        c_prev = prev[0]
        torch.sigmoid(torch.addmm(xp_t[:2 * H], W_h[:2 * H], c_prev), out=G[:2 * H])
        if self.b_cc is None:
            torch.mm(W_h[2 * H:], c_prev, out=n)
        else:
            torch.addmm(self.b_cc, W_h[2 * H:], c_prev, out=n)
        torch.tanh(torch.addcmul(xp_t[2 * H:], G[:H], n), out=G[2 * H:])
        torch.lerp(c_prev, G[2 * H:], G[H:2 * H], out=dest[0])

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        self.dN = self.buffer(self.H)            # gradient of W_cc c<t-1> + b_cc

    def back(self, t, d_new, prev):
        H, G, dz, W_hT = self.H, self.G[t], self.dZ[t], self.W_hT
        dc, c_prev = d_new[0], prev[0]
        gamma_r, gamma_u, c_tilde = G[:H], G[H:2 * H], G[2 * H:]
        dc_u = dc * gamma_u
        dz_c = tanh_backward(dc_u, c_tilde, grad_input=dz[2 * H:])
        sigmoid_backward(dc * (c_tilde - c_prev), gamma_u, grad_input=dz[H:2 * H])
        sigmoid_backward(dz_c * self.N[t], gamma_r, grad_input=dz[:H])
        dn = torch.mul(dz_c, gamma_r, out=self.dN[t])
        dc_prev = torch.addmm(dc - dc_u, W_hT[:, :2 * H], dz[:2 * H])
        return (dc_prev.addmm_(W_hT[:, 2 * H:], dn),)

    def finish(self):
        H, dZ, a_prev = self.H, self.dZ, self.prev[0]
        dW_h = torch.cat([self.weight_grad(dZ[:, :2 * H], a_prev), self.weight_grad(self.dN, a_prev)])
        d_b_cc = None if self.extra is None else self.dN.sum((0, 2))
        return dW_h, d_b_cc
