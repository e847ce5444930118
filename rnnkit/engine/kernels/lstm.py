"""LSTM step, plain and with peepholes. Layout (u, f, o, c): one σ over the first 3H rows, one tanh over the last H.

Saved per step: the gate activations ``G`` = [Γu; Γf; Γo; c̃] (T, 4H, B) and ``tanh(c<t>)`` (T, H, B).
Backward, with ``dc'`` the total gradient of ``c<t>``::

    dc' = dc + da * Γo * (1 − tanh²(c<t>))
    dΓu = dc' c̃,   dΓf = dc' c<t-1>,   dΓo = da tanh(c<t>),   dc̃ = dc' Γu
    dc<t-1> = dc' Γf  (+ Σ_g P_g dz_g with peepholes),   da<t-1> = W_hᵀ dz

Every factor that does not depend on ``da, dc`` (``Γo (1 − tanh²(c<t>))`` and each gate's ∂z, ``K``) is
computed for all steps at once before the reverse loop, so a step is four multiplications and the GEMM.
"""

from __future__ import annotations

import torch

from rnnkit.cells import LSTMCell
from rnnkit.engine import native
from rnnkit.engine.kernels.base import Kernel, mm_into, one_row_linear, sigmoid_backward, tanh_backward
from rnnkit.engine.layout import rows


class LSTMKernel(Kernel):
    state_names = ("a", "c")
    stacked_input = True
    native_step = "lstm"                         # with peepholes too: ``extra`` is P
    compiled_loops = True

    def __init__(self, W_h, extra, xp, H=None):
        super().__init__(W_h, extra, xp, H)
        H = self.H
        # Row blocks of the layout (rnnkit.engine.layout; the compiled loops read the same order): each gate,
        # the sigmoid block u … o, and u … f, which the backward fills in one multiplication.
        self.u, self.f, self.o, self.c = (rows(LSTMCell, H, g) for g in ("u", "f", "o", "c"))
        self.sig, self.uf = rows(LSTMCell, H, "u", "o"), rows(LSTMCell, H, "u", "f")
        self.G = xp                              # [Γu; Γf; Γo; c̃], written over the pre-activations
        self.TC = self.buffer(self.H)            # tanh(c<t>)

    def run_loop(self, S, reverse):
        native.lstm_forward(self.W_h, self.extra, self.G, S[0], S[1], self.TC, reverse, self.lengths)

    def run_loop_backward(self, d_out, d_state, reverse, x):
        da, dc = d_state
        da_0 = torch.empty_like(da)
        # The loop accumulates the weight gradients beside it: W_h's always, W_x's where x can be read whole.
        readable = x.dtype == torch.float32 and x.is_contiguous()
        self.dW_h = self.W_h.new_empty(self.GH, self.H)
        self.dW_x = self.W_h.new_empty(self.GH, x.shape[2]) if readable else None
        native.lstm_backward(self.W_h, self.extra, self.G, self.TC, self.prev[0], self.prev[1], self.dZ, d_out, da,
                             dc, da_0, x if readable else None, self.dW_h, self.dW_x, reverse, self.lengths)
        return da_0, dc

    def recurrent_weight_grad(self):
        """Σ_t dZ<t> a<t-1>ᵀ (4H, H): from the compiled loop, or computed now."""
        return self.dW_h if self.looped else self.weight_grad(self.dZ, self.prev[0])

    def finish(self):
        return self.recurrent_weight_grad(), None

    def input_weight_grad(self, x):
        if self.looped and self.dW_x is not None:
            return self.dW_x
        return super().input_weight_grad(x)

    def peephole(self, z, c_prev):
        """Add ``P * c<t-1>`` to the three sigmoid gates (only with peepholes)."""

    def step(self, t, xp_t, prev, dest):
        G = xp_t
        a_prev, c_prev = prev
        z = G.addmm_(self.W_h, a_prev)                               # W [a<t-1>, x<t>] + b
        self.peephole(z, c_prev)
        G[self.sig].sigmoid_()                                       # Γu, Γf, Γo
        G[self.c].tanh_()                                            # c̃
        c_t = torch.mul(G[self.f], c_prev, out=dest[1])              # c<t> = Γf c<t-1> + Γu c̃
        c_t.addcmul_(G[self.u], G[self.c])
        tc = torch.tanh(c_t, out=self.TC[t])
        torch.mul(G[self.o], tc, out=dest[0])                        # a<t> = Γo tanh(c<t>)

    @property
    def binds_one_row(self):
        return type(self) is LSTMKernel

    def bind(self, xp_t, prev, dest, bias=None, one_row=False):
        if type(self) is not LSTMKernel:                             # peepholes: the general step
            return super().bind(xp_t, prev, dest, bias)
        G, W, tc = xp_t, self.W_h, self.TC[0]
        a_prev, c_prev = prev
        a_out, c_out = dest
        sigmoid_gates, c_tilde = G[self.sig], G[self.c]
        gamma_u, gamma_f, gamma_o = G[self.u], G[self.f], G[self.o]
        mul, tanh, addmm = torch.mul, torch.tanh, torch.addmm
        if one_row:                                                  # B = 1: rows, for oneDNN's GEMV
            x_row, G_row, b_row = a_prev.view(1, -1), G.view(1, -1), None if bias is None else bias.view(-1)

        def step():                                                  # step(), every view made once
            if one_row:
                z = one_row_linear(x_row, W, b_row)
                G_row.add_(z) if b_row is None else G_row.copy_(z)
            elif bias is None:
                G.addmm_(W, a_prev)
            else:
                addmm(bias, W, a_prev, out=G)
            sigmoid_gates.sigmoid_()
            c_tilde.tanh_()
            mul(gamma_f, c_prev, out=c_out).addcmul_(gamma_u, c_tilde)
            mul(gamma_o, tanh(c_out, out=tc), out=a_out)
        return step

    def start_backward(self, prev, new):
        super().start_backward(prev, new)
        if self.looped:                          # the compiled loop computes each step's factors itself
            return
        H, G, TC, c_prev = self.H, self.G, self.TC, prev[1]
        u, f, o, c, uf = self.u, self.f, self.o, self.c, self.uf
        gamma_u, gamma_o, c_tilde = G[:, u], G[:, o], G[:, c]
        # The factors of every step at once (see the module docstring): dz = [dc'; dc'; da; dc'] * K.
        K = torch.empty_like(G)
        sigmoid_backward(c_tilde, gamma_u, grad_input=K[:, u])                  # ∂z_u: c̃ Γu (1 − Γu)
        sigmoid_backward(c_prev, G[:, f], grad_input=K[:, f])                   # ∂z_f: c<t-1> Γf (1 − Γf)
        sigmoid_backward(TC, gamma_o, grad_input=K[:, o])                       # ∂z_o: tanh(c<t>) Γo (1 − Γo)
        tanh_backward(gamma_u, c_tilde, grad_input=K[:, c])                     # ∂z_c: Γu (1 − c̃²)
        self.K_a = tanh_backward(gamma_o, TC, grad_input=torch.empty_like(TC)).unbind(0)   # Γo (1 − tanh²(c<t>))
        self.K_uf, self.K_o, self.K_c = (K[:, uf].unflatten(1, (2, H)).unbind(0), K[:, o].unbind(0),
                                         K[:, c].unbind(0))
        dZ = self.dZ
        self.dz_uf, self.dz_o, self.dz_c = (dZ[:, uf].unflatten(1, (2, H)).unbind(0), dZ[:, o].unbind(0),
                                            dZ[:, c].unbind(0))
        self.gamma_f = G[:, f].unbind(0)

    def back(self, t, d_new, acc):
        da, dc = d_new
        dc_t = dc.addcmul_(da, self.K_a[t])                          # dc' = dc + da Γo (1 − tanh²(c<t>))
        torch.mul(self.K_uf[t], dc_t, out=self.dz_uf[t])             # dz_u, dz_f
        torch.mul(da, self.K_o[t], out=self.dz_o[t])                 # dz_o
        torch.mul(dc_t, self.K_c[t], out=self.dz_c[t])               # dz_c
        dz = self.dz[t]
        dc_prev = self.peephole_backward(dc_t.mul_(self.gamma_f[t]), dz)
        return mm_into(acc, self.W_hT, dz), dc_prev

    def peephole_backward(self, dc_prev, dz):
        return dc_prev


class PeepholeLSTMKernel(LSTMKernel):
    """``Γ = σ(W [a<t-1>, x<t>] + P * c<t-1> + b)`` for Γu, Γf, Γo; ``extra`` is P (3, H)."""

    def __init__(self, W_h, extra, xp, H=None):
        super().__init__(W_h, extra, xp, H)
        self.P = extra.unsqueeze(2)              # (3, H, 1)

    def peephole(self, z, c_prev):
        z[self.sig].view(3, self.H, -1).addcmul_(self.P, c_prev.unsqueeze(0))

    def peephole_backward(self, dc_prev, dz):
        return dc_prev.add_((dz[self.sig].view(3, self.H, -1) * self.P).sum(0))

    def finish(self):
        dZ, H = self.dZ, self.H
        dZ_gates = dZ[:, self.sig].reshape(self.T, 3, H, self.B)
        d_P = (dZ_gates * self.prev[1].unsqueeze(1)).sum((0, 3))
        return self.recurrent_weight_grad(), d_P
