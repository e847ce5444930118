"""GRU steps: the simplified GRU, the full GRU with the reset before the matmul (the default), and after it.

With ``c̃`` the candidate and ``Γu`` the update gate, all three end in ``c<t> = Γu * c̃ + (1 − Γu) * c<t-1>``,
which is ``torch.lerp(c<t-1>, c̃, Γu)``; its gradients are ``d c̃ = dc Γu``, ``dΓu = dc (c̃ − c<t-1>)`` and
``dc<t-1> = dc (1 − Γu)``. Gate activations are saved per step in ``G`` (T, B, G·H), layout as the weights.
"""

from __future__ import annotations

import torch

from rnnkit.engine.kernels.base import Kernel, sigmoid_backward, tanh_backward


class SimpleGRUKernel(Kernel):
    """Layout (u, c): ``Γu = σ(z_u)``, ``c̃ = tanh(z_c)``, z = xp + W_h c<t-1>."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        self.G = self.buffer(self.GH)

    def step(self, k, xp_k, prev, dest):
        H, G = self.H, self.G[k]
        z = torch.addmm(xp_k, prev[0], self.W_hT)
        torch.sigmoid(z[:, :H], out=G[:, :H])                       # Γu
        torch.tanh(z[:, H:], out=G[:, H:])                          # c̃
        torch.lerp(prev[0], G[:, H:], G[:, :H], out=dest[0])        # c<t> = Γu c̃ + (1 − Γu) c<t-1>

    def back(self, k, d_new, prev, new):
        H, G, dz = self.H, self.G[k], self.dZ[k]
        dc, c_prev = d_new[0], prev[0]
        gamma_u, c_tilde = G[:, :H], G[:, H:]
        dc_u = dc * gamma_u
        sigmoid_backward(dc * (c_tilde - c_prev), gamma_u, grad_input=dz[:, :H])
        tanh_backward(dc_u, c_tilde, grad_input=dz[:, H:])
        return (torch.addmm(dc - dc_u, dz, self.W_h),)

    def finish(self, S):
        return self.dZ, self.recurrent_weight_grad(self.dZ, S[0][:-1]), None


class GRUKernel(Kernel):
    """Layout (r, u, c), reset before the matmul: ``c̃ = tanh(xp_c + W_cc (Γr * c<t-1>))``."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        H = self.H
        self.G = self.buffer(self.GH)            # [Γr, Γu, c̃]
        self.RC = self.buffer(H)                 # Γr * c<t-1>, the input of W_cc
        self.W_ruT, self.W_ccT = self.W_hT[:, :2 * H], self.W_hT[:, 2 * H:]

    def step(self, k, xp_k, prev, dest):
        H, G = self.H, self.G[k]
        c_prev = prev[0]
        torch.sigmoid(torch.addmm(xp_k[:, :2 * H], c_prev, self.W_ruT), out=G[:, :2 * H])   # Γr, Γu
        rc = torch.mul(G[:, :H], c_prev, out=self.RC[k])                                     # Γr * c<t-1>
        torch.tanh(torch.addmm(xp_k[:, 2 * H:], rc, self.W_ccT), out=G[:, 2 * H:])          # c̃
        torch.lerp(c_prev, G[:, 2 * H:], G[:, H:2 * H], out=dest[0])

    def back(self, k, d_new, prev, new):
        H, G, dz = self.H, self.G[k], self.dZ[k]
        dc, c_prev = d_new[0], prev[0]
        gamma_r, gamma_u, c_tilde = G[:, :H], G[:, H:2 * H], G[:, 2 * H:]
        dc_u = dc * gamma_u
        tanh_backward(dc_u, c_tilde, grad_input=dz[:, 2 * H:])                    # dz_c
        sigmoid_backward(dc * (c_tilde - c_prev), gamma_u, grad_input=dz[:, H:2 * H])
        d_rc = dz[:, 2 * H:].mm(self.W_h[2 * H:])                                 # d(Γr * c<t-1>)
        sigmoid_backward(d_rc * c_prev, gamma_r, grad_input=dz[:, :H])
        dc_prev = torch.addcmul(dc - dc_u, d_rc, gamma_r)
        return (dc_prev.addmm_(dz[:, :2 * H], self.W_h[:2 * H]),)

    def finish(self, S):
        H, dZ = self.H, self.dZ
        dW_h = torch.cat([self.recurrent_weight_grad(dZ[..., :2 * H], S[0][:-1]),
                          self.recurrent_weight_grad(dZ[..., 2 * H:], self.RC)])
        return dZ, dW_h, None


class GRUResetAfterKernel(Kernel):
    """Layout (r, u, c), reset after the matmul: ``c̃ = tanh(xp_c + Γr * (W_cc c<t-1> + b_cc))``."""

    def __init__(self, W_h, extra, xp):
        super().__init__(W_h, extra, xp)
        H = self.H
        self.G = self.buffer(self.GH)            # [Γr, Γu, c̃]
        self.N = self.buffer(H)                  # W_cc c<t-1> + b_cc
        self.W_ruT, self.W_ccT = self.W_hT[:, :2 * H], self.W_hT[:, 2 * H:]

    def step(self, k, xp_k, prev, dest):
        H, G = self.H, self.G[k]
        c_prev = prev[0]
        torch.sigmoid(torch.addmm(xp_k[:, :2 * H], c_prev, self.W_ruT), out=G[:, :2 * H])
        n = self.N[k]
        if self.extra is None:
            torch.mm(c_prev, self.W_ccT, out=n)
        else:
            torch.addmm(self.extra, c_prev, self.W_ccT, out=n)
        torch.tanh(torch.addcmul(xp_k[:, 2 * H:], G[:, :H], n), out=G[:, 2 * H:])
        torch.lerp(c_prev, G[:, 2 * H:], G[:, H:2 * H], out=dest[0])

    def start_backward(self):
        super().start_backward()
        self.dN = self.buffer(self.H)            # gradient of W_cc c<t-1> + b_cc

    def back(self, k, d_new, prev, new):
        H, G, dz = self.H, self.G[k], self.dZ[k]
        dc, c_prev = d_new[0], prev[0]
        gamma_r, gamma_u, c_tilde = G[:, :H], G[:, H:2 * H], G[:, 2 * H:]
        dc_u = dc * gamma_u
        dz_c = tanh_backward(dc_u, c_tilde, grad_input=dz[:, 2 * H:])
        sigmoid_backward(dc * (c_tilde - c_prev), gamma_u, grad_input=dz[:, H:2 * H])
        sigmoid_backward(dz_c * self.N[k], gamma_r, grad_input=dz[:, :H])
        dn = torch.mul(dz_c, gamma_r, out=self.dN[k])
        dc_prev = torch.addmm(dc - dc_u, dz[:, :2 * H], self.W_h[:2 * H])
        return (dc_prev.addmm_(dn, self.W_h[2 * H:]),)

    def finish(self, S):
        H, dZ, a_prev = self.H, self.dZ, S[0][:-1]
        dW_h = torch.cat([self.recurrent_weight_grad(dZ[..., :2 * H], a_prev),
                          self.recurrent_weight_grad(self.dN, a_prev)])
        d_b_cc = None if self.extra is None else self.dN.sum((0, 1))
        return dZ, dW_h, d_b_cc
