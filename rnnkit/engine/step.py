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

**Reduced-precision weights** (``weights="bf16"`` or ``"int8"``, :class:`StepMatrix`): each layer's GEMV
reads a bfloat16 copy of its fused weight (oneDNN, AVX512-BF16 where the CPU has it) or an int8 one with a
scale per output row (fbgemm's dynamic quantized linear: the input row is quantized per call), written in
float32 into the pre-activations; states, biases, the embedding table and the gate equations stay float32.
The compiled steps are float32-only, so these run through torch ops; only the cells whose kernel reads
``a<t-1>`` in its GEMM alone (``Kernel.stacked_input``: LSTM, RNN) take them. The same plan runs those
cells' float32 steps at B > 1 (:func:`rows_gemm`): oneDNN's GEMM on rows beats MKL's on the feature-major
buffer there.

**The output layer's draw** (:class:`OutputDraw`): ``ŷ<t> = softmax(W_ya a<t> + b_y)`` and the sampler's
choice in one place, with a batch-1 fast path that folds the Gumbel noise into the bias.

Only without autograd (the cached weights are detached): when gradients are wanted, or under
``engine="reference"``, or for a cell the engine does not know, the stepper calls each cell's own forward.
"""

from __future__ import annotations

import functools
import math
import mmap
import operator
import warnings
import weakref

import torch
from torch import nn

from rnnkit.engine import native
from rnnkit.engine.kernels.base import one_row_gemv, one_row_linear
from rnnkit.engine.layout import fuse, kernel_class, supported

_VERSION = operator.attrgetter("_version")
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # cell -> (key, Weights)
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # cell -> (key, table (G·H, V))
_REDUCED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary() # cell -> {(weights, part): (key, matrix)}

# ``weights=`` of a Stepper: the precision its GEMVs read the weights in.
WEIGHTS = ("float32", "bf16", "int8")


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


def compiled_bf16_step(w: Weights, B: int) -> bool:
    """Whether a layer stepping from ``weights="bf16"`` runs its whole step in one compiled call reading the
    bfloat16 weight (``rnnkit_lstm_step_bf16``): B = 1, a plain LSTM, float32 parameters on the CPU, the
    library built. Elsewhere the GEMV goes through :class:`StepMatrix`."""
    return (B == 1 and w.kernel_class.native_step == "lstm" and w.extra is None and w.W.dtype == torch.float32
            and w.W.device.type == "cpu" and native.available())


class StepMatrix:
    """A weight matrix W (N, K) as a stepper's product reads it, through a torch op on input rows:
    ``"float32"`` W itself, by oneDNN's linear (at B = 16 about 1.8× the speed of MKL's ``addmm`` on the
    feature-major layout, measured on the 2-core AMD EPYC); ``"bf16"`` W rounded to bfloat16 (oneDNN's
    linear on bfloat16 rows); ``"int8"`` ``round(W / s)`` with one scale ``s`` per row (symmetric, fbgemm's
    dynamic quantized linear, which quantizes the input row per call).

    :meth:`gemv_into` writes ``xp (+)= W v (+ b)`` in float32: v (K, B) → xp (N, B).
    """

    def __init__(self, W: torch.Tensor, kind: str):
        self.kind = kind
        if kind == "float32":
            self.W, self.packed = W, None
            return
        W = W.detach().float().contiguous()
        if kind == "bf16":
            self.W = W.bfloat16()
            self.packed = None
        else:
            scale = W.abs().amax(dim=1).clamp_(min=1e-12) / 127.0            # one scale per output row
            zero = torch.zeros(W.shape[0], dtype=torch.long)
            with warnings.catch_warnings():              # deprecated in favour of torchao; still fbgemm's input
                warnings.simplefilter("ignore", UserWarning)
                q = torch.quantize_per_channel(W, scale.double(), zero, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(q, None)
            self.W = q

    def product(self, v: torch.Tensor) -> torch.Tensor:
        """``(W v)ᵀ`` in float32, a new (B, N) tensor, for v (K, B)."""
        rows = v.t().contiguous()                                            # (B, K)
        if self.kind == "float32":
            return torch.ops.mkldnn._linear_pointwise(rows, self.W, None, "none", [], "")
        if self.kind == "bf16":                                              # oneDNN: bf16 in, bf16 out
            return torch.ops.mkldnn._linear_pointwise(rows.bfloat16(), self.W, None, "none", [], "").float()
        return torch.ops.quantized.linear_dynamic(rows, self.packed, True)  # 7-bit input rows, as fbgemm wants

    def gemv_into(self, xp: torch.Tensor, v: torch.Tensor, b: torch.Tensor | None, accumulate: bool) -> None:
        """``xp = W v + b`` (``accumulate``: ``xp += W v``); xp (N, B) float32."""
        z = self.product(v)
        if accumulate:
            xp.add_(z.t())
        elif b is None:
            xp.copy_(z.t())
        else:
            torch.add(b, z.t(), out=xp)


def rows_gemm(w: Weights, B: int) -> bool:
    """Whether a float32 layer's step computes its GEMM as oneDNN's linear on input rows (:class:`StepMatrix`)
    rather than ``addmm`` on the feature-major buffer: B > 1 (at B = 1 the compiled or one-row GEMV is
    faster), a cell whose kernel reads ``a<t-1>`` only in its GEMM, contiguous float32 weights on the CPU,
    and a torch with oneDNN."""
    return (B > 1 and w.kernel_class.stacked_input and w.W.dtype == torch.float32 and w.W.device.type == "cpu"
            and torch.backends.mkldnn.is_available())


def reduced_weights_available(weights: str) -> str | None:
    """None where this torch can run ``weights`` (see :class:`StepMatrix`), else why not."""
    if weights == "bf16":
        return None if torch.backends.mkldnn.is_available() else "this torch build has no oneDNN"
    if weights == "int8":
        engines = torch.backends.quantized.supported_engines
        return None if ("fbgemm" in engines or "x86" in engines) else "this torch build has no fbgemm"
    return None


def check_reduced(layer, weights: str) -> None:
    """Raise ``ValueError`` where ``layer`` cannot step from ``weights`` (see :data:`WEIGHTS`)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    why = reduced_weights_available(weights)
    if why:
        raise ValueError(f"weights={weights!r} cannot run here: {why}; use float32 weights")
    for cell in layer.cells:
        if not (supported(cell) and kernel_class(cell).stacked_input):
            raise ValueError(f"weights={weights!r} runs LSTM and RNN cells; this model has "
                             f"{type(cell).__name__}: use float32 weights")
    p = next(layer.parameters())
    if p.dtype != torch.float32 or p.device.type != "cpu":
        raise ValueError(f"weights={weights!r} reduces a float32 model on the CPU; this one is {p.dtype} on "
                         f"{p.device}")


def cached_matrix(cell, weights: str, part: str) -> StepMatrix:
    """``cell``'s fused weight (``part="xh"``: ``[W_x | W_h]``; ``"h"``: ``W_h``) as a :class:`StepMatrix`,
    rebuilt only after a parameter changed."""
    key = version_key(cell)
    per_cell = _REDUCED.setdefault(cell, {})
    hit = per_cell.get((weights, part))
    if hit is None or hit[0] != key:
        w = cached_weights(cell)
        hit = per_cell[(weights, part)] = (key, StepMatrix(w.W if part == "xh" else w.W_h_alone, weights))
    return hit[1]


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
        weights: ``"float32"`` (the parameters as they are), ``"bf16"`` or ``"int8"`` (the GEMVs read a
            reduced copy, :class:`StepMatrix`; float32 models with LSTM or RNN cells only).

    Shapes: :meth:`step` x_t (B, X) → a<t> of the top layer (B, H); :meth:`step_ids` ids (B,) → (B, H);
    :meth:`state` → one (L, B, H) tensor per state name.

    Example::

        stepper = Stepper(lstm, None, batch_size=1)
        for x_t in xs:                       # (1, X) each
            top = stepper.step(x_t)          # (1, H): a view, valid until the next step
        a, c = stepper.state()
    """

    def __init__(self, layer, state=None, batch_size: int = 1, device=None, dtype=None,
                 embedding: nn.Embedding | None = None, inputs_require_grad: bool = False,
                 weights: str = "float32"):
        self.layer, self.embedding, self.weights = layer, embedding, weights
        self.cells = list(layer.cells)
        if weights != "float32":
            check_reduced(layer, weights)
        if state is None:
            p = next(layer.parameters())
            state = layer.init_state(batch_size, device=device or p.device, dtype=dtype or p.dtype)
        self.fast = (layer.engine == "auto" and all(supported(c) for c in self.cells)
                     and not wants_grad(layer, inputs_require_grad))
        if weights != "float32" and not self.fast:
            raise ValueError(f"weights={weights!r} steps only without autograd on the fast engine (torch.no_grad(),"
                             f" engine='auto'); this layer has engine={layer.engine!r}")
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
            if self.weights == "bf16" and compiled_bf16_step(w, B):            # one call on bfloat16 weights
                W = cached_matrix(cell, "bf16", "h" if table_layer else "xh").W
                v = a if table_layer else self.buf[start:start + in_rows + H]
                base = xp[0] if table_layer or w.b is None else w.b
                self.plans.append((None, native.bind_lstm_step_bf16(W, v.view(-1), base.view(-1), a.view(-1),
                                                                    self.rest[0][l].view(-1))))
                continue
            if self.weights != "float32" or rows_gemm(w, B):                   # a GEMM on rows, then the gates
                self.plans.append(self._matrix_plan(cell, w, l, start, in_rows, a, xp, table_layer))
                continue
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

    def _matrix_plan(self, cell, w: Weights, l: int, start: int, in_rows: int, a: torch.Tensor,
                     xp: torch.Tensor, table_layer: bool):
        """(feed, step) of layer l through a :class:`StepMatrix`: the feed writes every pre-activation,
        ``xp = Q([W_x | W_h]) [x<t>; a<t-1>] + b`` (under an embedding ``xp = table row + Q(W_h) a<t-1>``), and
        the kernel, given a zero-width ``W_h`` (its GEMM adds nothing), applies the gate equations."""
        H, xp = self.layer.hidden_size, xp[0]
        matrix = cached_matrix(cell, self.weights, "h" if table_layer else "xh")
        v = a if table_layer else self.buf[start:start + in_rows + H]        # a<t-1> or [x<t>; a<t-1>]
        base = None if table_layer else w.b                                  # the table row holds b already
        feed = functools.partial(matrix.gemv_into, xp, v, base, table_layer)
        none = xp.new_empty(xp.shape[0], 0)
        kernel = w.kernel_class(none, w.extra, xp.unsqueeze(0), H)
        prev = (xp.new_empty(0, xp.shape[1]), *(r[l] for r in self.rest))
        dest = (a, *(r[l] for r in self.rest))
        return feed, kernel.bind(xp, prev, dest, None, False)

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
        # a copy even where the transpose is already contiguous (B = 1): the next step writes into buf
        return tuple(p.transpose(1, 2).clone(memory_format=torch.contiguous_format) for p in parts)


class OutputDraw:
    """Token ids drawn from the output layer ``ŷ<t> = softmax(W_ya a<t> + b_y)`` by a sampler
    (:class:`rnnkit.generation.Sampler`), for a stream of steps: ``draw(a)`` is ``sampler(a W_yaᵀ + b_y)``.

    The engine's part is how the logits are computed. For one row in plain float32 sampling, where a one-row
    GEMV applies (:func:`rnnkit.engine.kernels.base.one_row_gemv`), the Gumbel noise rides in the bias,
    ``argmax(a W_yaᵀ + (b_y − T log E))``, with the biased rows of up to 64 steps made at once, so a step is
    one GEMV and an argmax; an in-place update of ``b_y`` between steps is noticed (its version) and the rows
    are remade. Otherwise the logits are one linear and the sampler chooses.

    Shapes: W (V, H), b (V,) or None; a (B, H) → ids (B,).

    Example::

        draw = OutputDraw(lm.head.W_ya, lm.head.b_y, Sampler(temperature=0.8))
        token = draw(stepper.step_ids(token))
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor | None, sampler):
        self.W, self.b, self.sampler = W, b, sampler
        self.noise = None                  # the sampler's noise stream for the biased rows
        self.biased: torch.Tensor | None = None
        self.biased_key: tuple | None = None

    def logits(self, a: torch.Tensor) -> torch.Tensor:
        """``a W_yaᵀ + b_y`` (B, V)."""
        if a.shape[0] == 1 and one_row_gemv(self.W):
            return one_row_linear(a.contiguous(), self.W, self.b)
        return nn.functional.linear(a, self.W, self.b)

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        W, b, sampler = self.W, self.b, self.sampler
        if not (a.shape[0] == 1 and b is not None and sampler.noise_in_bias and one_row_gemv(W)):
            return sampler(self.logits(a))
        if self.noise is None or not self.noise.fits(b):
            self.noise = sampler.noise_for(b)
            self.biased = torch.empty_like(self.noise.buf)
        key = (b.data_ptr(), b._version)
        if key != self.biased_key:                         # b was updated: redraw, so that b is current
            self.noise.restart()
        _, redrawn = self.noise.take()
        if redrawn:                                        # rows b − T log E for the coming steps
            torch.sub(b.detach(), self.noise.buf, alpha=sampler.temperature, out=self.biased)
            self.biased_key = key
        return one_row_linear(a.contiguous(), W, self.biased[self.noise.next - 1]).argmax(dim=-1)
