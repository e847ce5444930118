"""GRU steps: the simplified GRU, the full GRU with the reset before the matmul (the default), and after it.

All three end in ``c<t> = Γu * c̃ + (1 − Γu) * c<t-1>``, which is ``torch.lerp(c<t-1>, c̃, Γu)``, with the
gradients ``dc̃ = dc Γu``, ``dΓu = dc (c̃ − c<t-1>)``, ``dc<t-1> = dc (1 − Γu)``. Gate activations are saved
per step in ``G`` (T, G·H, B), rows in the layout of the fused weights.

Backward: every factor that does not depend on the incoming gradient ``dc`` is computed for all steps at
once before the reverse loop (``K``, one op per factor over (T, H, B)), so that a step is only
``dz = dc * K`` and the recurrent GEMMs::

    K_u = Γu (1 − Γu) (c̃ − c<t-1>),   K_c = Γu (1 − c̃²)         dz_u = dc K_u,   dz_c = dc K_c
"""

from __future__ import annotations

import torch

from rnnkit.engine import native
from rnnkit.engine.kernels.base import Kernel, mul_into, sigmoid_backward, tanh_backward


def lerp_backward_factors(G: torch.Tensor, c_prev: torch.Tensor, H: int):
    """(K_uc (T, 2H, B) = [K_u; K_c], 1 − Γu (T, H, B)) from the last two gate blocks [Γu; c̃] of ``G``."""
    gamma_u, c_tilde = G[:, -2 * H:-H], G[:, -H:]
    K = torch.empty_like(G[:, -2 * H:])
    sigmoid_backward(torch.sub(c_tilde, c_prev), gamma_u, grad_input=K[:, :H])          # K_u
    tanh_backward(gamma_u, c_tilde, grad_input=K[:, H:])                                 # K_c
    return K, torch.rsub(gamma_u, 1)


def pairs(buf: torch.Tensor, H: int):
    """Per-step (2, H, B) views of the last 2H rows of a (T, ·, B) buffer, for one broadcast op per step."""
    return buf[:, -2 * H:].unflatten(1, (2, H)).unbind(0)


class SimpleGRUKernel(Kernel):
    """Layout (u, c): ``Γu = σ(z_u)``, ``c̃ = tanh(z_c)``, z = xp + W_h c<t-1>."""

    native_step = "gru_simple"
    compiled_loops = True

    def __init__(self, W_h, extra, xp, H=None):
        super().__init__(W_h, extra, xp, H)
        self.G = xp                              # [Γu; c̃], written over the pre-activations

    def step(self, t, xp_t, prev, dest):
        H, G = self.H, xp_t
        G.addmm_(self.W_h, prev[0])                                 # z = xp + W_h c<t-1>
        G[:H].sigmoid_()                                            # Γu
        G[H:].tanh_()                                               # c̃
        torch.lerp(prev[0], G[H:], G[:H], out=dest[0])              # c<t> = Γu c̃ + (1 − Γu) c<t-1>

    def run_loop(self, S, reverse):
        native.simple_gru_forward(self.W_h, self.G, S[0], reverse, self.lengths)

    def run_loop_backward(self, d_out, d_state, reverse, x):
        d_c_0 = torch.empty_like(d_state[0])
        native.simple_gru_backward(self.W_h, self.G, self.prev[0], self.dZ, d_out, d_state[0], d_c_0, reverse,
                                   self.lengths)
        return (d_c_0,)

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        if self.looped:                          # the compiled loop computes each step's factors itself
            return
        K, one_minus_u = lerp_backward_factors(self.G, prev[0], self.H)
        self.K_uc, self.dz_uc, self.one_minus_u = pairs(K, self.H), pairs(self.dZ, self.H), one_minus_u.unbind(0)

    def back(self, t, d_new, acc):
        dc = d_new[0]
        torch.mul(self.K_uc[t], dc, out=self.dz_uc[t])                          # dz_u, dz_c
        d_prev = mul_into(acc, dc, self.one_minus_u[t])                         # dc (1 − Γu)
        return (d_prev.addmm_(self.W_hT, self.dz[t]),)                          # + W_hᵀ dz


class GRUKernel(Kernel):
    """Layout (r, u, c), reset before the matmul: ``c̃ = tanh(xp_c + W_cc (Γr * c<t-1>))``.

    Backward, besides K_u and K_c: ``d(Γr c<t-1>) = W_ccᵀ dz_c``, ``dz_r = d(Γr c<t-1>) K_r`` with
    ``K_r = Γr (1 − Γr) c<t-1>``, and ``dc<t-1> = dc (1 − Γu) + d(Γr c<t-1>) Γr + W_ruᵀ dz_ru``.
    """

    native_step = "gru"
    compiled_loops = True

    def __init__(self, W_h, extra, xp, H=None):
        super().__init__(W_h, extra, xp, H)
        H = self.H
        self.G = xp                              # [Γr; Γu; c̃], written over the pre-activations
        self.RC = self.buffer(H)                 # Γr * c<t-1>, what W_cc reads
        # Per-step views of every block, made once (unbind) instead of sliced in the loop.
        self.ru, self.r, self.u, self.c_tilde = (self.G[:, :2 * H].unbind(0), self.G[:, :H].unbind(0),
                                                 self.G[:, H:2 * H].unbind(0), self.G[:, 2 * H:].unbind(0))
        self.rc = self.RC.unbind(0)
        self.W_ru, self.W_cc = self.W_h[:2 * H], self.W_h[2 * H:]

    def run_loop(self, S, reverse):
        native.gru_forward(self.W_h, self.G, S[0], self.RC, reverse, self.lengths)

    def run_loop_backward(self, d_out, d_state, reverse, x):
        d_c_0 = torch.empty_like(d_state[0])
        native.gru_backward(self.W_h, self.G, self.prev[0], self.dZ, d_out, d_state[0], d_c_0, reverse, self.lengths)
        return (d_c_0,)

    def step(self, t, xp_t, prev, dest):
        c_prev = prev[0]
        self.ru[t].addmm_(self.W_ru, c_prev).sigmoid_()                                    # Γr, Γu
        rc = torch.mul(self.r[t], c_prev, out=self.rc[t])                                  # Γr * c<t-1>
        self.c_tilde[t].addmm_(self.W_cc, rc).tanh_()                                      # c̃
        torch.lerp(c_prev, self.c_tilde[t], self.u[t], out=dest[0])

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        if self.looped:                          # the compiled loop computes each step's factors itself
            return
        H = self.H
        K, one_minus_u = lerp_backward_factors(self.G, prev[0], H)
        self.K_uc, self.dz_uc, self.one_minus_u = pairs(K, H), pairs(self.dZ, H), one_minus_u.unbind(0)
        self.K_r = sigmoid_backward(prev[0], self.G[:, :H], grad_input=torch.empty_like(prev[0])).unbind(0)
        self.dz_ru, self.dz_r, self.dz_c = (self.dZ[:, :2 * H].unbind(0), self.dZ[:, :H].unbind(0),
                                            self.dZ[:, 2 * H:].unbind(0))
        self.W_ruT, self.W_ccT = self.W_ru.t(), self.W_cc.t()

    def back(self, t, d_new, acc):
        dc = d_new[0]
        torch.mul(self.K_uc[t], dc, out=self.dz_uc[t])                          # dz_u, dz_c
        d_rc = self.W_ccT.mm(self.dz_c[t])                                      # d(Γr * c<t-1>)
        torch.mul(d_rc, self.K_r[t], out=self.dz_r[t])                          # dz_r
        d_prev = mul_into(acc, dc, self.one_minus_u[t]).addcmul_(d_rc, self.r[t])
        return (d_prev.addmm_(self.W_ruT, self.dz_ru[t]),)

    def finish(self):
        H, dZ = self.H, self.dZ
        dW_h = torch.cat([self.weight_grad(dZ[:, :2 * H], self.prev[0]), self.weight_grad(dZ[:, 2 * H:], self.RC)])
        return dW_h, None


class GRUResetAfterKernel(Kernel):
    """Layout (r, u, c), reset after the matmul: ``c̃ = tanh(xp_c + Γr * (W_cc c<t-1> + b_cc))``.

    Backward, with ``n = W_cc c<t-1> + b_cc``: ``dz_r = dz_c n Γr (1 − Γr)``, ``dn = dz_c Γr``, so all three
    gates are ``dz = dc K`` with ``K_r = K_c n Γr (1 − Γr)``.
    """

    native_step = "gru_reset_after"
    compiled_loops = True

    def __init__(self, W_h, extra, xp, H=None):
        super().__init__(W_h, extra, xp, H)
        self.G = xp                              # [Γr; Γu; c̃], written over the pre-activations
        self.N = self.buffer(self.H)             # W_cc c<t-1> + b_cc
        self.b_cc = None if extra is None else extra.unsqueeze(1)

    def run_loop(self, S, reverse):
        b_cc = None if self.extra is None else self.extra.contiguous()
        native.gru_after_forward(self.W_h, b_cc, self.G, S[0], self.N, reverse, self.lengths)

    def run_loop_backward(self, d_out, d_state, reverse, x):
        d_c_0 = torch.empty_like(d_state[0])
        native.gru_after_backward(self.W_h, self.G, self.prev[0], self.N, self.dZ, self.dN, d_out, d_state[0], d_c_0,
                                  reverse, self.lengths)
        return (d_c_0,)

    def step(self, t, xp_t, prev, dest):
        H, G, W_h, n = self.H, xp_t, self.W_h, self.N[t]
        c_prev = prev[0]
        G[:2 * H].addmm_(W_h[:2 * H], c_prev).sigmoid_()
        if self.b_cc is None:
            torch.mm(W_h[2 * H:], c_prev, out=n)
        else:
            torch.addmm(self.b_cc, W_h[2 * H:], c_prev, out=n)
        G[2 * H:].addcmul_(G[:H], n).tanh_()
        torch.lerp(c_prev, G[2 * H:], G[H:2 * H], out=dest[0])

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        H, G = self.H, self.G
        self.dN = self.buffer(H)                 # gradient of W_cc c<t-1> + b_cc
        if self.looped:                          # the compiled loop computes each step's factors itself
            return
        K = torch.empty_like(G)
        K_uc, one_minus_u = lerp_backward_factors(G, prev[0], H)
        K[:, H:] = K_uc
        sigmoid_backward(K_uc[:, H:] * self.N, G[:, :H], grad_input=K[:, :H])    # K_r
        self.K, self.dz3 = K.unflatten(1, (3, H)).unbind(0), self.dZ.unflatten(1, (3, H)).unbind(0)
        self.one_minus_u, self.r, self.dn = one_minus_u.unbind(0), G[:, :H].unbind(0), self.dN.unbind(0)
        self.dz_c, self.dz_ru = self.dZ[:, 2 * H:].unbind(0), self.dZ[:, :2 * H].unbind(0)
        self.W_ruT, self.W_ccT = self.W_hT[:, :2 * H], self.W_hT[:, 2 * H:]

    def back(self, t, d_new, acc):
        dc = d_new[0]
        torch.mul(self.K[t], dc, out=self.dz3[t])                               # dz_r, dz_u, dz_c
        torch.mul(self.dz_c[t], self.r[t], out=self.dn[t])                      # dn = dz_c Γr
        d_prev = mul_into(acc, dc, self.one_minus_u[t]).addmm_(self.W_ruT, self.dz_ru[t])
        return (d_prev.addmm_(self.W_ccT, self.dn[t]),)

    def finish(self):
        H, dZ, a_prev = self.H, self.dZ, self.prev[0]
        dW_h = torch.cat([self.weight_grad(dZ[:, :2 * H], a_prev), self.weight_grad(self.dN, a_prev)])
        d_b_cc = None if self.extra is None else self.dN.sum((0, 2))
        return dW_h, d_b_cc
