"""Backpropagation through time with a hand-written backward: one autograd node for a whole direction.

Forward: the input projections of all steps in one GEMM (``xp = W_x x + b``, autograd), then the loop
over the kernel's step inside :class:`Recurrence`, which records no graph. Backward: the loop in reverse
fills the gradient of every step's gate pre-activations ``dZ`` (T, B, G·H); ``W_h`` gets its gradient in
one GEMM over all steps, and autograd carries ``dZ`` back through the input projection (again one GEMM
for ``W_x``, ``b`` and ``x``).

Padding (``lengths``) follows :mod:`rnnkit.engine.reference` exactly: with ``live<t> = t < length``, the
state is ``where(live, new, old)`` and the output ``new * live``. The backward direction is run forwards
over the time-reversed input and reversed back, so its loop step k is time ``T - 1 - k``.
"""

from __future__ import annotations

import torch

from rnnkit.engine.layout import fuse, kernel_class


class Recurrence(torch.autograd.Function):
    """``(kernel_cls, xp, W_h, extra, live, *state0) -> (outputs (T, B, H), *final_state)``.

    ``xp`` (T, B, G·H) are the input projections in loop order, ``live`` (T, B, 1) bool or None, every
    state (B, H). Differentiable in ``xp``, ``W_h``, ``extra`` and the initial state (first order).
    """

    @staticmethod
    def forward(ctx, kernel_cls, xp, W_h, extra, live, *state0):
        kernel = kernel_cls(W_h, extra, xp)
        T = xp.shape[0]
        S = [torch.empty((T + 1, *s.shape), dtype=s.dtype, device=s.device) for s in state0]
        for buf, s in zip(S, state0):
            buf[0].copy_(s)
        if live is None:
            for k in range(T):
                kernel.step(k, xp[k], tuple(buf[k] for buf in S), tuple(buf[k + 1] for buf in S))
            outputs = S[0][1:]
        else:
            outputs = torch.empty_like(S[0][1:])
            new = tuple(torch.empty_like(s) for s in state0)
            for k in range(T):
                kernel.step(k, xp[k], tuple(buf[k] for buf in S), new)
                for buf, n in zip(S, new):
                    torch.where(live[k], n, buf[k], out=buf[k + 1])            # held past the end
                torch.mul(new[0], live[k], out=outputs[k])                      # zero past the end
        ctx.kernel = kernel
        ctx.save_for_backward(live, *S)
        return (outputs, *(buf[T].clone() for buf in S))

    @staticmethod
    def backward(ctx, d_outputs, *d_final):
        kernel = ctx.kernel
        live, *S = ctx.saved_tensors
        T = kernel.T
        d_state = [torch.zeros_like(buf[0]) if d is None else d.clone() for buf, d in zip(S, d_final)]
        kernel.start_backward()
        for k in range(T - 1, -1, -1):
            prev = tuple(buf[k] for buf in S)
            new = tuple(buf[k + 1] for buf in S)
            d_new = list(d_state)
            if d_outputs is not None:
                d_new[0] = d_new[0] + d_outputs[k]
            if live is not None:
                d_new = [d * live[k] for d in d_new]
            d_prev = kernel.back(k, tuple(d_new), prev, new)
            if live is not None:          # a held state passes its gradient straight through
                d_prev = [torch.where(live[k], dp, ds) for dp, ds in zip(d_prev, d_state)]
            d_state = d_prev
        d_xp, d_W_h, d_extra = kernel.finish(S)
        ctx.kernel = None
        return (None, d_xp, d_W_h, d_extra, None, *d_state)


def live_mask(lengths: torch.Tensor | None, T: int, reverse: bool) -> torch.Tensor | None:
    """(T, B, 1) bool in loop order: ``live[k, b]`` is whether step k exists in sequence b."""
    if lengths is None:
        return None
    t = torch.arange(T, device=lengths.device)
    if reverse:
        t = t.flip(0)
    return (lengths.unsqueeze(0) > t.unsqueeze(1)).unsqueeze(2)


def run_fused(cell, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None,
              reverse: bool) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The fast engine for one direction of one layer of a built-in cell; same contract as
    :func:`rnnkit.engine.reference.run_reference`."""
    T, B, X = x.shape
    W_h, W_x, b, extra = fuse(cell)
    if reverse:
        x = x.flip(0)
    x2 = x.reshape(T * B, X)
    xp = (torch.addmm(b, x2, W_x.t()) if b is not None else x2.mm(W_x.t())).view(T, B, -1)  # (T, B, G·H)
    live = live_mask(lengths, T, reverse)
    if live is not None:
        live = live.to(x.device)
    outputs, *final = Recurrence.apply(kernel_class(cell), xp, W_h, extra, live, *state)
    if reverse:
        outputs = outputs.flip(0)
    return outputs, tuple(final)
