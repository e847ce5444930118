"""One time step of a built-in cell for generation, with no per-call setup.

The fused weights (:func:`rnnkit.engine.layout.fuse`) are cached per cell and rebuilt only when a
parameter changes, which the key notices: every parameter's ``_version`` (bumped by each in-place update,
e.g. an optimizer step) and ``data_ptr`` (changed by ``.to()`` or ``load_state_dict`` with new storage).
The step itself is the training kernel's step (:mod:`rnnkit.engine.kernels`) for T = 1, so generation
and training compute the same equations in the same order.

Only without autograd: the cached weights are detached, so when gradients are wanted (grad mode on and a
parameter that requires grad) the cell's own forward runs instead.
"""

from __future__ import annotations

import weakref

import torch

from rnnkit.engine.layout import Fused, fuse, kernel_class, supported

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # cell -> (key, Fused, kernel class)


def _version_key(cell) -> tuple:
    return tuple((p._version, p.data_ptr()) for p in cell.parameters())


def cached_fused(cell) -> tuple[Fused, type]:
    """``cell``'s fused weights (detached, contiguous) and kernel class, rebuilt only after a parameter changed."""
    key = _version_key(cell)
    hit = _CACHE.get(cell)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    with torch.no_grad():
        W_h, W_x, b, extra = fuse(cell)
        fused = Fused(W_h.contiguous(), W_x.contiguous(), None if b is None else b.unsqueeze(1).contiguous(),
                      None if extra is None else extra.contiguous())
    _CACHE[cell] = (key, fused, kernel_class(cell))
    return fused, kernel_class(cell)


def step_cell(cell, x_t: torch.Tensor, state: tuple[torch.Tensor, ...], engine: str = "auto"):
    """``cell(x_t, state)`` for ``x_t`` (B, X) and a state of (B, H) tensors, on the cached fused weights when
    ``engine="auto"``, the cell is built in and no gradient is wanted."""
    wants_grad = torch.is_grad_enabled() and (x_t.requires_grad or any(p.requires_grad for p in cell.parameters()))
    if engine != "auto" or not supported(cell) or wants_grad:
        return cell(x_t, state)
    (W_h, W_x, b, extra), kernel_cls = cached_fused(cell)
    xp = (W_x.mm(x_t.t()) if b is None else torch.addmm(b, W_x, x_t.t())).unsqueeze(0)   # (1, G·H, B)
    with torch.no_grad():
        kernel = kernel_cls(W_h, extra, xp)
        new = tuple(torch.empty_like(s.t()) for s in state)
        kernel.step(0, xp[0], tuple(s.t() for s in state), new)
    return tuple(n.t() for n in new)
