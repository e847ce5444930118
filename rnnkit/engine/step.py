"""Stepping for generation: one time step through every layer, with no per-step setup.

A :class:`Stepper` is made once per stream of tokens and keeps everything a step needs, so a step is the
GEMMs and the elementwise gate kernels and nothing else:

* **the states in one buffer**, feature-major like the training loop (:mod:`rnnkit.engine.kernels.base`)::

      buf = [x<t>; a^[1]; a^[2]; …; a^[L]]   (X + L·H, B)

  so layer l's input and its own previous activation are adjacent rows. For the cells whose recurrent GEMM
  is the only reader of ``a<t-1>`` (LSTM, RNN: ``Kernel.stacked_input``) layer l then computes all its gates
  with ONE GEMM, ``z = [W_x | W_h] [a^[l-1]<t>; a^[l]<t-1>] + b``, on a view of ``buf``. Each layer writes its
  new activation in place, where the next layer and the next step read it;
* **the fused weights**, ``[W_x | W_h]`` (G·H, X + H) contiguous, cached per cell and rebuilt only when a
  parameter changes, which the key notices: every parameter's ``_version`` (bumped by each in-place update,
  e.g. an optimizer step) and ``data_ptr`` (changed by ``.to()`` or ``load_state_dict`` with new storage),
  checked when a stepper is made; every step checks the versions;
* **with an embedding** (:meth:`Stepper.step_ids`), layer 1's input projection of every token id at once,
  ``table = W_x Eᵀ + b`` (G·H, V), so ``W_x x<t> + b`` is a column gather (stored transposed, so the
  column is a contiguous row; cached on both keys);
* **one kernel per layer** (the training kernel of :mod:`rnnkit.engine.kernels` for T = 1, bound once to
  these buffers by :meth:`Kernel.bind`): generation and training compute the same equations in the same
  order. At batch 1 in float32 a layer's whole step is one call of the compiled kernel of
  :mod:`rnnkit.engine.native` where it is built (the GEMV and the gate equations fused, on both cores;
  :func:`compiled_step`), else an LSTM's GEMV goes through oneDNN
  (:func:`rnnkit.engine.kernels.base.one_row_linear`): the same products summed in another order.

Only without autograd (the cached weights are detached): when gradients are wanted, or under
``engine="reference"``, or for a cell the engine does not know, the stepper calls each cell's own forward.
"""

from __future__ import annotations

import functools
import math
import mmap
import operator
import weakref

import torch
from torch import nn

from rnnkit.engine import native
from rnnkit.engine.kernels.base import one_row_gemv
from rnnkit.engine.layout import fuse, kernel_class, supported

_VERSION = operator.attrgetter("_version")
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # cell -> (key, Weights)
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # cell -> (key, table (G·H, V))


HUGE_PAGE = 2 << 20


def huge_page_empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised contiguous CPU tensor on 2 MB transparent huge pages, where the OS offers them (Linux).

    A batch-1 step streams every weight matrix once per token; on 4 KB pages an 8 MB matrix spans 2,048
    pages, more than the CPU's TLB holds, and the page-table walks cost about as much as the arithmetic
    (measured: a 2×512 LSTM step 1.2 ms on 4 KB pages, 0.6–0.8 ms on huge pages). Tensors under 2 MB and
    systems without ``MADV_HUGEPAGE`` get a plain ``torch.empty``.
    """
    numel = math.prod(shape)
    nbytes = numel * dtype.itemsize
    if nbytes < HUGE_PAGE or not hasattr(mmap, "MADV_HUGEPAGE"):
        return torch.empty(shape, dtype=dtype)
    area = mmap.mmap(-1, nbytes + HUGE_PAGE)                      # anonymous; freed with the last tensor on it
    offset = -torch.frombuffer(area, dtype=torch.uint8, count=1).data_ptr() % HUGE_PAGE
    try:
        area.madvise(mmap.MADV_HUGEPAGE, offset, len(area) - offset)
    except OSError:                                                # THP disabled: 4 KB pages, still correct
        pass
    return torch.frombuffer(area, dtype=dtype, count=numel, offset=offset).view(shape)


def stepping_buffer(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Where a weight lives while stepping: on huge pages on the CPU (:func:`huge_page_empty`), else plain."""
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    return huge_page_empty(shape, dtype)


def version_key(module) -> tuple:
    """Changes whenever one of ``module``'s parameters is updated in place or moved to new storage."""
    return tuple((p._version, p.data_ptr()) for p in module.parameters())


class Weights:
    """One cell's weights fused for stepping (detached, contiguous)."""

    def __init__(self, cell):
        with torch.no_grad():
            W_h, W_x, b, extra = fuse(cell)
            W = stepping_buffer((W_h.shape[0], W_x.shape[1] + W_h.shape[1]), W_h.dtype, W_h.device)
            self.W = torch.cat([W_x, W_h], 1, out=W)                           # [W_x | W_h] (G·H, X + H)
        X = W_x.shape[1]
        self.W_x, self.W_h = self.W[:, :X], self.W[:, X:]
        self.b = None if b is None else b.detach().unsqueeze(1).contiguous()   # (G·H, 1)
        self.extra = None if extra is None else extra.detach().contiguous()
        self.kernel_class = kernel_class(cell)
        self._W_h_alone = None

    @property
    def W_h_alone(self) -> torch.Tensor:
        """``W_h`` in its own contiguous buffer, for a layer whose input projection comes from a table: the
        view ``W[:, X:]`` would stream every row's unused ``W_x`` half through the cache as well."""
        if self._W_h_alone is None:
            W_h = self.W_h
            self._W_h_alone = stepping_buffer(tuple(W_h.shape), W_h.dtype, W_h.device).copy_(W_h)
        return self._W_h_alone


def cached_weights(cell) -> Weights:
    """``cell``'s :class:`Weights`, rebuilt only after a parameter changed."""
    key = version_key(cell)
    hit = _CACHE.get(cell)
    if hit is None or hit[0] != key:
        hit = _CACHE[cell] = (key, Weights(cell))
    return hit[1]


def cached_table(cell, embedding: nn.Embedding) -> torch.Tensor:
    """``(W_x Eᵀ + b)ᵀ`` (V, G·H): the input projection of every token id, one contiguous row per id,
    rebuilt after either changes."""
    key = (version_key(cell), version_key(embedding))
    hit = _TABLES.get(cell)
    if hit is None or hit[0] != key:
        w = cached_weights(cell)
        with torch.no_grad():
            E_t = embedding.weight.t()
            table = (w.W_x.mm(E_t) if w.b is None else torch.addmm(w.b, w.W_x, E_t)).t().contiguous()
        hit = _TABLES[cell] = (key, table)
    return hit[1]


def compiled_step(w: Weights, B: int) -> bool:
    """Whether a layer steps through its compiled batch-1 kernel (:mod:`rnnkit.engine.native`): B = 1,
    float32 on the CPU, a cell whose kernel names one, and the library built."""
    return (B == 1 and w.kernel_class.native_step is not None and w.W.dtype == torch.float32
            and w.W.device.type == "cpu" and native.available())


def wants_grad(layer, inputs_require_grad: bool = False) -> bool:
    """Whether a step must build an autograd graph (grad mode on and an input or a parameter needs it)."""
    return torch.is_grad_enabled() and (inputs_require_grad or any(p.requires_grad for p in layer.parameters()))


class Stepper:
    """Steps a unidirectional :class:`rnnkit.Recurrent` layer one time step at a time.

    Args:
        layer: the layer (its cells and ``engine``).
        state: one (L, B, H) tensor per state name, or ``None`` for zeros; it is copied, never written.
        batch_size (B), device, dtype: of the steps to come (with ``state=None``).
        embedding: with :meth:`step_ids`, the ``nn.Embedding`` that maps ids to layer 1's input.
        inputs_require_grad: whether the inputs to come need gradients (then the cells' own forward runs).

    Shapes: :meth:`step` x_t (B, X) → a<t> of the top layer (B, H); :meth:`step_ids` ids (B,) → (B, H);
    :meth:`state` → one (L, B, H) tensor per state name.

    Example::

        stepper = Stepper(lstm, None, batch_size=1)
        for x_t in xs:                       # (1, X) each
            top = stepper.step(x_t)          # (1, H): a view, valid until the next step
        a, c = stepper.state()
    """

    def __init__(self, layer, state=None, batch_size: int = 1, device=None, dtype=None,
                 embedding: nn.Embedding | None = None, inputs_require_grad: bool = False):
        self.layer, self.embedding = layer, embedding
        self.cells = list(layer.cells)
        if state is None:
            p = next(layer.parameters())
            state = layer.init_state(batch_size, device=device or p.device, dtype=dtype or p.dtype)
        self.fast = (layer.engine == "auto" and all(supported(c) for c in self.cells)
                     and not wants_grad(layer, inputs_require_grad))
        if not self.fast:
            self.states = [tuple(s[k] for s in state) for k in range(len(self.cells))]
            return
        L, H = len(self.cells), layer.hidden_size
        # Layer 1's input rows: none when its input projection comes from the embedding table.
        self.X = 0 if embedding is not None else layer.input_size
        self.buf = state[0].new_empty(self.X + L * H, state[0].shape[1])      # [x; a^[1]; …; a^[L]] (·, B)
        self.buf[self.X:].view(L, H, -1).copy_(state[0].transpose(1, 2))
        self.rest = [s.transpose(1, 2).contiguous() for s in state[1:]]        # c (L, H, B) for an LSTM
        self.top = self.buf[self.X + (L - 1) * H:].t()                         # a^[L] (B, H)
        modules = [*self.cells, *([embedding] if embedding is not None else [])]
        self.params = [p for m in modules for p in m.parameters()]
        self._build()

    def _keys(self) -> list:
        """The version of every weight a step uses, from a parameter list made once: every in-place update
        (an optimizer step, ``load_state_dict``) bumps it. (Moving a module to new storage between steps is
        not a thing a stream sees; :func:`cached_weights` checks storage too, when a stepper is made.)"""
        return list(map(_VERSION, self.params))

    def _build(self) -> None:
        """Per layer: a feed that writes what the GEMM does not add to the pre-activations xp<t> (G·H, B)
        (layer 1 under an embedding: ``table_feed`` of the ids), and the kernel's step bound to its buffers
        (:meth:`Kernel.bind`); every view of ``buf`` they read and write is made here once."""
        self.keys = self._keys()
        H, B, table = self.layer.hidden_size, self.buf.shape[1], self.embedding is not None
        self.plans = []
        for l, cell in enumerate(self.cells):
            w = cached_weights(cell)
            in_rows = self.X if l == 0 else H
            start = 0 if l == 0 else self.X + (l - 1) * H                    # first row of layer l's input
            a = self.buf[start + in_rows:start + in_rows + H]                  # a^[l] (H, B)
            xp = self.buf.new_zeros(1, w.W.shape[0], B)                       # the kernel writes over it
            table_layer = l == 0 and table
            if table_layer:                                                    # W_x E[id] + b: a row per id
                self.table_feed = self._table_feed(cached_table(cell, self.embedding), xp[0])
            if compiled_step(w, B):                                            # the whole step in one call
                W, v = (w.W_h_alone, a) if table_layer else (w.W, self.buf[start:start + in_rows + H])
                base = xp[0] if table_layer or w.b is None else w.b            # table row, bias, or zeros
                c = self.rest[0][l].view(-1) if self.rest else None
                self.plans.append((None, native.bind_step(w.kernel_class.native_step, W, v.view(-1),
                                                          base.view(-1), w.extra, a.view(-1), c)))
                continue
            stacked = w.kernel_class.stacked_input and not table_layer
            W = w.W if stacked else (w.W_h_alone if table_layer else w.W_h)
            kernel = w.kernel_class(W, w.extra, xp, H)
            one_row = B == 1 and kernel.binds_one_row and one_row_gemv(W)
            read = self.buf[start:start + in_rows + H] if stacked else a      # [x; a<t-1>] or a<t-1>
            prev = (read, *(r[l] for r in self.rest))
            dest = (a, *(r[l] for r in self.rest))
            xp = xp[0]
            if table_layer or stacked:                                         # the table or the GEMM feeds
                feed = None
            else:
                x_in = self.buf[start:start + in_rows]
                feed = (functools.partial(torch.mm, w.W_x, x_in, out=xp) if w.b is None
                        else functools.partial(torch.addmm, w.b, w.W_x, x_in, out=xp))   # W_x x<t> (+ b)
            bias = (w.b if w.b is not None else xp.new_zeros(xp.shape[0], 1)) if stacked else None
            self.plans.append((feed, kernel.bind(xp, prev, dest, bias, one_row)))

    @staticmethod
    def _table_feed(table: torch.Tensor, xp: torch.Tensor):
        """ids (B,) → xp = the table's rows for them, transposed (G·H, B)."""
        if xp.shape[1] == 1:                                                   # B = 1: (G·H, 1) is a row
            row = xp.view(1, -1)
            return lambda ids: torch.index_select(table, 0, ids, out=row)
        return lambda ids: xp.copy_(table[ids].t())

    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        """One step through every layer from the input ``x_t`` (B, X); returns a<t> of the top layer (B, H)
        (with the fast engine a view, valid until the next step)."""
        if not self.fast:
            return self._step_cells(x_t)
        if self.embedding is not None:
            raise ValueError("this Stepper was made with an embedding, so it reads token ids: call step_ids")
        self.buf[:self.X].copy_(x_t.t())
        return self._step_layers(None)

    def step_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """One step from token ids (B,), read through ``embedding``; returns a<t> of the top layer (B, H)."""
        if not self.fast:
            return self._step_cells(self.embedding(ids))
        return self._step_layers(ids)

    def _step_layers(self, ids: torch.Tensor | None) -> torch.Tensor:
        if self._keys() != self.keys:          # a parameter changed since the last step: re-fuse
            self._build()
        if ids is not None:
            self.table_feed(ids)
        for feed, step in self.plans:
            if feed is not None:
                feed()
            step()
        return self.top

    def _step_cells(self, x_t: torch.Tensor) -> torch.Tensor:
        for k, cell in enumerate(self.cells):
            self.states[k] = cell(x_t, self.states[k])
            x_t = self.states[k][0]
        return x_t

    def state(self) -> tuple[torch.Tensor, ...]:
        """The current state, one new (L, B, H) tensor per state name."""
        if not self.fast:
            return tuple(torch.stack(parts) for parts in zip(*self.states))
        L, H = len(self.cells), self.layer.hidden_size
        parts = [self.buf[self.X:].view(L, H, -1), *self.rest]
        return tuple(p.transpose(1, 2).contiguous() for p in parts)
