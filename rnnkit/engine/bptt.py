"""Backpropagation through time with a hand-written backward: one autograd node for a whole direction.

Forward (:class:`Recurrence`, which records no graph): the input projections of all steps in one batched
GEMM, ``xp<t> = W_x x<t> + b``, then the loop over the kernel's step. Backward: the loop in reverse fills the
gradient of every step's gate pre-activations ``dZ`` (T, G·H, B); then ``W_h``, ``W_x`` and ``b`` get their
gradients after the loop, and ``x`` in one batched GEMM. Per-step work is feature-major, (H, B), see
:mod:`rnnkit.engine.kernels.base`; the outputs are copied into a (T, B, H) tensor after the loop, and their
gradient into a feature-major (T, H, B) buffer before it, into which each step's kernel adds the gradient
``a<t-1>`` gets through the cell (so the output gradient costs no extra op per step).

Where the kernel has compiled loops (:mod:`rnnkit.engine.native`: float32 on the CPU), the loop each way is
one call instead (:meth:`Kernel.forward_loop`, :meth:`Kernel.backward_loop`), over the same buffers and
equations, padding included (the mask is applied in C).

Padding (``lengths``) follows :mod:`rnnkit.engine.reference` exactly: with ``live<t> = t < length``, the
state is ``where(live, new, old)`` and the output ``new * live``; the backward direction visits
t = T-1 … 0, so a sequence's state stays the initial one until its own last step.
"""

from __future__ import annotations

import torch

from rnnkit.engine import native
from rnnkit.engine.layout import fuse, kernel_class


def _project(x: torch.Tensor, W_x: torch.Tensor, b: torch.Tensor | None, spans: list | None = None) -> torch.Tensor:
    """``W_x x<t> + b`` for every t in one batched GEMM: x (T, B, X) → (T, G·H, B), feature-major. With
    ``spans`` (:func:`live_spans`) only the columns each step needs, zeros elsewhere."""
    if spans is None:
        T = x.shape[0]
        W = W_x.expand(T, *W_x.shape)
        xT = x.transpose(1, 2)
        return torch.bmm(W, xT) if b is None else torch.baddbmm(b.view(1, -1, 1), W, xT)
    xp = x.new_zeros(x.shape[0], W_x.shape[0], x.shape[1])
    for t0, t1, w in spans:
        xp[t0:t1, :, :w] = _project(x[t0:t1, :w], W_x, b)
    return xp


def live_spans(live: torch.Tensor | None) -> list[tuple[int, int, int]] | None:
    """Runs of steps ``(t0, t1, w)`` whose live sequences all lie in the first ``w`` columns (w ≥ 1; steps no
    sequence has are left out), from ``live`` (T, 1, B); None without padding or when every step needs every
    column. On a batch ordered by decreasing length the input projections and their gradient then cover only
    the live part, as a packed sequence does. ``w`` is rounded up to 8 columns (GEMM panels; see ``train.h``)."""
    if live is None:
        return None
    T, _, B = live.shape
    last = (live[:, 0] * torch.arange(1, B + 1, device=live.device)).amax(1)          # 1 + last live column
    width = ((last + 7) // 8 * 8).clamp(max=B).tolist()
    if all(w == B for w in width):
        return None
    spans, t0 = [], 0
    for t in range(1, T + 1):
        if t == T or width[t] != width[t0]:
            if width[t0]:
                spans.append((t0, t, width[t0]))
            t0 = t
    return spans


class Recurrence(torch.autograd.Function):
    """``(kernel_cls, reverse, x, W_x, b, W_h, extra, live, *state0) -> (outputs (T, B, H), *final_state)``.

    ``x`` (T, B, X), ``live`` (T, 1, B) bool or None, every state (B, H). Differentiable (first order) in
    ``x``, ``W_x``, ``b``, ``W_h``, ``extra`` and the initial state.
    """

    @staticmethod
    def forward(ctx, kernel_cls, reverse, x, W_x, b, W_h, extra, live, *state0):
        spans = live_spans(live) if x.device.type == "cpu" else None           # (on a GPU: one launch each)
        xp = _project(x, W_x, b, spans)                                        # (T, G·H, B)
        kernel = kernel_cls(W_h, extra, xp)
        T = x.shape[0]
        # S[i][s] for s = 0 … T: state i at the boundaries between steps; step t reads `before[t]`, writes `after[t]`.
        S = [torch.empty((T + 1, *s.t().shape), dtype=s.dtype, device=s.device) for s in state0]
        before = [buf[1:] if reverse else buf[:-1] for buf in S]
        after = [buf[:-1] if reverse else buf[1:] for buf in S]
        for buf, s in zip(S, state0):
            buf[T if reverse else 0].copy_(s.t())
        steps = range(T - 1, -1, -1) if reverse else range(T)
        # Outputs (T, B, H) contiguous, like the reference's: layers above (dropout included) see the same tensor.
        outputs = torch.empty(T, *state0[0].shape, dtype=xp.dtype, device=xp.device)
        # all steps in one call where compiled loops compute the kernel (with padding too: held in C)
        compiled = kernel.forward_loop(S, reverse, None if live is None else live[:, 0].sum(0, dtype=torch.int32))
        if not compiled:
            # Per-step views made once in C++ (unbind) rather than by Python indexing inside the loop.
            xp_t = xp.unbind(0)
            prev_t, new_t = list(zip(*(s.unbind(0) for s in before))), list(zip(*(s.unbind(0) for s in after)))
        if live is None or compiled:
            for t in steps if not compiled else ():
                kernel.step(t, xp_t[t], prev_t[t], new_t[t])
            outputs.copy_(after[0].transpose(1, 2))                             # all steps in one copy
            if live is not None:
                outputs.mul_(live.transpose(1, 2))                              # zero past the end
        else:
            new = tuple(torch.empty_like(buf[0]) for buf in S)
            out_t = outputs.transpose(1, 2).unbind(0)
            for t in steps:
                kernel.step(t, xp_t[t], prev_t[t], new)
                for dest, n, p in zip(new_t[t], new, prev_t[t]):
                    torch.where(live[t], n, p, out=dest)                        # held past the end
                torch.mul(new[0], live[t], out=out_t[t])                        # zero past the end
        ctx.kernel, ctx.reverse, ctx.has_bias, ctx.spans = kernel, reverse, b is not None, spans
        ctx.save_for_backward(x, W_x, live, *S)
        return (outputs, *(s[T - 1 if not reverse else 0].t().contiguous() for s in after))

    @staticmethod
    def backward(ctx, d_outputs, *d_final):
        kernel, reverse = ctx.kernel, ctx.reverse
        x, W_x, live, *S = ctx.saved_tensors
        T = kernel.T
        before = [buf[1:] if reverse else buf[:-1] for buf in S]
        after = [buf[:-1] if reverse else buf[1:] for buf in S]
        # Copies of our own: the kernels may write into the gradients they are given.
        d_state = [torch.zeros_like(buf[0]) if d is None else torch.empty_like(buf[0]).copy_(d.t())
                   for buf, d in zip(S, d_final)]
        kernel.start_backward(before, after)
        order = range(T) if reverse else range(T - 1, -1, -1)
        # d out<t> feature-major in a buffer of our own (T, H, B): each step's kernel adds the gradient that
        # a<t-1> gets through the cell into the d out of the step visited next, in place.
        d_out = None
        if d_outputs is not None:
            d_out = torch.empty_like(S[0][:T]).copy_(d_outputs.transpose(1, 2))
        d_out_t = [None] * T if d_out is None else d_out.unbind(0)
        if live is None or kernel.looped:
            if live is not None:                    # the compiled loop with padding: d_out given, zero past the end
                if d_out is None:
                    d_out = torch.zeros_like(S[0][:T])
                    d_out_t = d_out.unbind(0)
                d_out.mul_(live)
            if d_out is not None:
                d_state[0] = d_out_t[order[0]].add_(d_state[0])
            compiled = kernel.backward_loop(d_out, d_state, reverse, x)        # all steps at once, or None
            d_state = tuple(d_state) if compiled is None else compiled
            for t, t_next in zip(order, [*order[1:], None]) if compiled is None else ():
                d_state = kernel.back(t, d_state, None if t_next is None else d_out_t[t_next])
        else:
            for t in order:
                d_new = list(d_state)
                if d_out is not None:
                    d_new[0] = d_new[0] + d_out_t[t]
                d_new = [d * live[t] for d in d_new]
                d_prev = kernel.back(t, tuple(d_new), None)
                # a held state passes its gradient straight through
                d_state = [torch.where(live[t], dp, ds) for dp, ds in zip(d_prev, d_state)]
        dZ = kernel.dZ                                                          # d xp (T, G·H, B)
        d_W_h, d_extra = kernel.finish()
        needs = ctx.needs_input_grad
        d_x = _project_backward(dZ, W_x, ctx.spans, x) if needs[2] else None
        d_W_x = kernel.input_weight_grad(x) if needs[3] else None
        d_b = dZ.sum((0, 2)) if ctx.has_bias and needs[4] else None
        return (None, None, d_x, d_W_x, d_b, d_W_h, d_extra, None, *(d.t() for d in d_state))


def _project_backward(dZ: torch.Tensor, W_x: torch.Tensor, spans: list | None, x: torch.Tensor) -> torch.Tensor:
    """d x = dZ<t>ᵀ W_x for every t: (T, G·H, B) → (T, B, X), over the columns of ``spans`` (zeros elsewhere,
    where dZ is zero) when given."""
    if spans is None:
        return torch.bmm(dZ.transpose(1, 2), W_x.expand(dZ.shape[0], *W_x.shape))
    d_x = torch.zeros_like(x)
    for t0, t1, w in spans:
        d_x[t0:t1, :w] = _project_backward(dZ[t0:t1, :, :w], W_x, None, x)
    return d_x


def live_mask(lengths: torch.Tensor | None, T: int) -> torch.Tensor | None:
    """(T, 1, B) bool: ``live[t, 0, b]`` is whether step t exists in sequence b (``t < lengths[b]``)."""
    if lengths is None:
        return None
    t = torch.arange(T, device=lengths.device)
    return (lengths.unsqueeze(0) > t.unsqueeze(1)).unsqueeze(1)


def run_fused(cell, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None,
              reverse: bool) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The fast engine for one direction of one layer of a built-in cell; same contract as
    :func:`rnnkit.engine.reference.run_reference`.

    With ``lengths`` on the compiled loops the batch runs ordered by decreasing length (and is put back in
    order after), so that each step's GEMMs cover only the sequences that have that step (``train.h``)."""
    kernel_cls = kernel_class(cell)
    order = _by_length(lengths) if kernel_cls.compiled_loops and native.loops_take_dtype(x) else None
    if order is not None:
        x, lengths = x.index_select(1, order), lengths.index_select(0, order)
        state = tuple(s.index_select(0, order) for s in state)
    W_h, W_x, b, extra = fuse(cell)
    live = live_mask(lengths, x.shape[0])
    outputs, *final = Recurrence.apply(kernel_cls, reverse, x, W_x, b, W_h, extra, live, *state)
    if order is not None:
        back = torch.argsort(order)
        outputs, final = outputs.index_select(1, back), [s.index_select(0, back) for s in final]
    return outputs, tuple(final)


def _by_length(lengths: torch.Tensor | None) -> torch.Tensor | None:
    """The batch order by decreasing length (stable), or None when there is no padding or it is in that order."""
    if lengths is None or lengths.numel() < 2 or bool((lengths[:-1] >= lengths[1:]).all()):
        return None
    return torch.argsort(lengths, descending=True, stable=True)
