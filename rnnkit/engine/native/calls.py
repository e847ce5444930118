"""Python faces of the compiled kernels (:mod:`rnnkit.engine.native.build`): checked once, then cheap.

Every tensor must be a contiguous float32 CPU tensor; a bound step keeps references to the tensors whose
addresses it holds, so they outlive it.
"""

from __future__ import annotations

import contextlib
import functools

import torch

from rnnkit.engine.native.build import library, sgemm

F32 = torch.float32                      # what every compiled kernel reads and writes, whatever the default dtype

# The compiled steps, by the name a kernel class gives in ``native_step``: (gates G, GRU form).
STEPS = {
    "lstm": (4, None),
    "gru_simple": (2, 0),
    "gru": (3, 1),
    "gru_reset_after": (3, 2),
    "rnn_tanh": (1, None),
    "rnn_relu": (1, None),
}


def available() -> bool:
    """Whether the compiled kernels are built, loaded and agree with torch (:func:`library`)."""
    return library() is not None


def _ptr(t: torch.Tensor | None) -> int | None:
    if t is None:
        return None
    if t.dtype != F32 or t.device.type != "cpu" or not t.is_contiguous():
        raise ValueError(f"the compiled kernels take contiguous float32 CPU tensors, got {t.dtype} on {t.device}"
                         f"{'' if t.is_contiguous() else ', not contiguous'}")
    return t.data_ptr()


def bind_step(kind: str, W: torch.Tensor, v: torch.Tensor, base: torch.Tensor, extra: torch.Tensor | None,
              a_out: torch.Tensor, c: torch.Tensor | None = None, lib=None):
    """A function of no arguments that runs one batch-1 step of one layer (``step.c``) on these buffers:
    ``z = W v + base``, then the cell ``kind`` (a key of :data:`STEPS`) writes ``a_out`` (and ``c``).

    Shapes, with K = X + H: W (G·H, K) = ``[W_x | W_h]`` in the engine's gate layout; v (K) = ``[x<t>;
    a<t-1>]`` (X = 0 when ``base`` holds the input projection already, a table row); base (G·H): the bias
    or those pre-activations; ``extra``: the peepholes P (3, H) of an LSTM, ``b_cc`` (H) of a GRU with
    the reset after, else None; a_out (H), which may be ``v[X:]``; ``c`` (H): an LSTM's cell state, read
    and written. ``lib``: the library to call (default :func:`library`)."""
    gates, form = STEPS[kind]
    H, K = a_out.numel(), v.numel()
    if (W.shape != (gates * H, K) or base.numel() != gates * H or K < H or (kind == "lstm") != (c is not None)
            or (c is not None and c.numel() != H)):
        raise ValueError(f"{kind} step shapes disagree: W {tuple(W.shape)}, v {K}, base {base.numel()}, H {H}")
    lib = lib or library()
    threads = torch.get_num_threads
    scratch = torch.empty(4 * H, dtype=F32)
    if kind == "lstm":
        keep, ints, fn = (W, v, base, extra, c, c, a_out, scratch), (H, K), lib.rnnkit_lstm_step
    elif kind.startswith("gru"):
        keep, ints, fn = (W, v, base, extra, a_out, scratch), (H, K - H, form), lib.rnnkit_gru_step
    else:
        keep, ints, fn = (W, v, base, a_out, scratch), (H, K, kind == "rnn_relu"), lib.rnnkit_rnn_step
    args = tuple(_ptr(t) for t in keep) + ints

    def step(_keep=keep):
        fn(*args, threads())
    step.compiled = True
    return step


def bind_lstm_step_bf16(W: torch.Tensor, v: torch.Tensor, base: torch.Tensor, a_out: torch.Tensor,
                        c: torch.Tensor, lib=None):
    """:func:`bind_step` for a plain LSTM whose fused weight W (4H, K) is bfloat16 (``step.c``,
    ``rnnkit_lstm_step_bf16``): the products read W widened to float32; everything else is float32."""
    H, K = a_out.numel(), v.numel()
    if W.dtype != torch.bfloat16 or not W.is_contiguous() or W.shape != (4 * H, K) or base.numel() != 4 * H \
            or c.numel() != H:
        raise ValueError(f"bf16 lstm step shapes disagree: W {tuple(W.shape)} {W.dtype}, v {K}, H {H}")
    lib = lib or library()
    threads = torch.get_num_threads
    scratch = torch.empty(H, dtype=F32)
    keep = (W, v, base, c, c, a_out, scratch)
    args = (W.data_ptr(), *(_ptr(t) for t in keep[1:]), H, K)
    fn = lib.rnnkit_lstm_step_bf16

    def step(_keep=keep):
        fn(*args, threads())
    step.compiled = True
    return step


def linear_row(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None, lib=None) -> torch.Tensor:
    """``x Wᵀ (+ b)`` for one row: x (1, K), W (N, K), b (N,) → a new (1, N) tensor."""
    N, K = W.shape
    if x.numel() != K or (b is not None and b.numel() != N):
        raise ValueError(f"linear_row: x has {x.numel()} values and W is {tuple(W.shape)}")
    out = torch.empty(1, N, dtype=F32)
    (lib or library()).rnnkit_linear_row(_ptr(W), _ptr(x), _ptr(b), out.data_ptr(), N, K, torch.get_num_threads())
    return out


# While a probe runs: "reference" (the Python kernels run) or the (library, sgemm) on trial.
_probing: str | tuple | None = None


@contextlib.contextmanager
def probing(mode: str | tuple):
    """Within: the training loops are ``mode`` ("reference": not used; (library, sgemm): those), without
    asking :func:`training_loops`, which may be the one probing."""
    global _probing
    _probing = mode
    try:
        yield
    finally:
        _probing = None


@functools.cache
def training_loops() -> tuple | None:
    """(library, sgemm address) when the compiled training loops (``train_*.c``) can run: the
    library is built, this torch exports a BLAS ``sgemm_``, and the loops agree with the Python kernels on a
    probe."""
    lib, f = library(), sgemm()
    if lib is None or f is None:
        return None
    from rnnkit.engine.native.probe import loops_agree

    def run(mode, fn):
        with probing(mode):
            return fn()
    return (lib, f) if loops_agree(lambda fn: run("reference", fn), lambda fn: run((lib, f), fn)) else None


def _loops() -> tuple | None:
    if _probing is not None:
        return None if _probing == "reference" else _probing
    return training_loops()


def loops_take_dtype(x: torch.Tensor) -> bool:
    """Whether the compiled loops would run a layer on input ``x``: float32 on the CPU, loops available."""
    return x.dtype == torch.float32 and x.device.type == "cpu" and _loops() is not None


def loops_take(W_h: torch.Tensor, G: torch.Tensor) -> bool:
    """Whether the compiled loops run a layer: float32 on the CPU, rows of ``W_h`` contiguous, the
    loops available (:func:`training_loops`)."""
    return (G.dtype == torch.float32 and G.device.type == "cpu" and W_h.dtype == torch.float32
            and W_h.stride(1) == 1 and G.is_contiguous() and _loops() is not None)


def _padding(lengths: torch.Tensor | None, H: int, B: int) -> tuple[int | None, int | None, tuple]:
    """(len, M) pointers for a loop (``train.h``, padding): ``lengths`` (B) int32 contiguous CPU, and a mask
    buffer of H·B floats; (None, None) without padding. The third item keeps the tensors alive."""
    if lengths is None:
        return None, None, ()
    if lengths.dtype != torch.int32 or lengths.device.type != "cpu" or not lengths.is_contiguous() \
            or lengths.numel() != B:
        raise ValueError(f"the compiled loops take lengths as {B} contiguous int32 CPU values, got "
                         f"{lengths.numel()} {lengths.dtype} on {lengths.device}")
    mask = torch.empty(H, B, dtype=F32)
    return lengths.data_ptr(), mask.data_ptr(), (lengths, mask)


def lstm_forward(W_h, P, G, S_a, S_c, TC, reverse: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one LSTM direction (``rnnkit_lstm_forward``): G (T, 4H, B) pre-activations in,
    activations out; S_a, S_c (T + 1, H, B) states; TC (T, H, B) tanh(c<t>); P (3, H) or None; ``lengths``
    (B) int32 or None: step t exists in sequence b when t < lengths[b] (held state past the end)."""
    lib, f = _loops()
    T, GH, B = G.shape
    len_p, mask_p, _keep = _padding(lengths, GH // 4, B)
    lib.rnnkit_lstm_forward(f, W_h.data_ptr(), W_h.stride(0), _ptr(P), _ptr(G), _ptr(S_a), _ptr(S_c), _ptr(TC),
                            len_p, mask_p, T, GH // 4, B, reverse, torch.get_num_threads())


def lstm_backward(W_h, P, G, TC, A_prev, C_prev, dZ, d_out, da, dc, da_0, x, dW_h, dW_x, reverse: bool,
                  lengths: torch.Tensor | None = None) -> None:
    """Every step of one LSTM direction in reverse and the weight gradients (``rnnkit_lstm_backward``; see
    ``train_lstm.c``): A_prev, C_prev (T, H, B) the states each step read; x (T, B, X) the input, contiguous,
    or None (then dW_x is None too); dW_h (4H, H), dW_x (4H, X) get Σ_t dz a<t-1>ᵀ, Σ_t dz x<t>. With
    ``lengths``, ``d_out`` must be given (zeros where nothing reaches the outputs)."""
    lib, f = _loops()
    T, GH, B = G.shape
    X = 0 if x is None else x.shape[2]
    _need_d_out(lengths, d_out)
    len_p, mask_p, _keep = _padding(lengths, GH // 4, B)
    lib.rnnkit_lstm_backward(f, W_h.data_ptr(), W_h.stride(0), _ptr(P), _ptr(G), _ptr(TC), _ptr(A_prev), _ptr(C_prev),
                             _ptr(dZ), _ptr(d_out), _ptr(da), _ptr(dc), _ptr(da_0), _ptr(x), X, _ptr(dW_h), _ptr(dW_x),
                             len_p, mask_p, T, GH // 4, B, reverse, torch.get_num_threads())


def _need_d_out(lengths, d_out) -> None:
    if lengths is not None and d_out is None:
        raise ValueError("a compiled backward loop with lengths needs d_out (pass zeros)")


def gru_forward(W_h, G, S, RC, reverse: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one GRU direction, reset before the matmul (``rnnkit_gru_forward``): G (T, 3H, B)
    pre-activations in, activations out; S (T + 1, H, B) states; RC (T, H, B) gets Γr * c<t-1>; ``lengths``
    as for :func:`lstm_forward`."""
    lib, f = _loops()
    T, GH, B = G.shape
    len_p, mask_p, _keep = _padding(lengths, GH // 3, B)
    lib.rnnkit_gru_forward(f, W_h.data_ptr(), W_h.stride(0), _ptr(G), _ptr(S), _ptr(RC), len_p, mask_p, T, GH // 3,
                           B, reverse, torch.get_num_threads())


def gru_backward(W_h, G, C_prev, dZ, d_out, dc, d_c_0, reverse: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one GRU direction in reverse (``rnnkit_gru_backward``; see ``train_gru.c``): C_prev
    (T, H, B) the state each step read; ``lengths`` as for :func:`lstm_backward`."""
    lib, f = _loops()
    T, GH, B = G.shape
    _need_d_out(lengths, d_out)
    len_p, mask_p, _keep = _padding(lengths, GH // 3, B)
    work = torch.empty(2, GH // 3, B, dtype=F32)
    lib.rnnkit_gru_backward(f, W_h.data_ptr(), W_h.stride(0), _ptr(G), _ptr(C_prev), _ptr(dZ), _ptr(d_out),
                            _ptr(dc), _ptr(d_c_0), _ptr(work), len_p, mask_p, T, GH // 3, B, reverse,
                            torch.get_num_threads())


def gru_after_forward(W_h, b_cc, G, S, N, reverse: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one GRU direction, reset after the matmul (``rnnkit_gru_after_forward``): N (T, H, B)
    gets W_cc c<t-1> + b_cc; ``lengths`` as for :func:`lstm_forward`."""
    lib, f = _loops()
    T, GH, B = G.shape
    len_p, mask_p, _keep = _padding(lengths, GH // 3, B)
    lib.rnnkit_gru_after_forward(f, W_h.data_ptr(), W_h.stride(0), _ptr(b_cc), _ptr(G), _ptr(S), _ptr(N), len_p,
                                 mask_p, T, GH // 3, B, reverse, torch.get_num_threads())


def gru_after_backward(W_h, G, C_prev, N, dZ, dN, d_out, dc, d_c_0, reverse: bool,
                       lengths: torch.Tensor | None = None) -> None:
    """Every step of one reset-after GRU direction in reverse (``rnnkit_gru_after_backward``)."""
    lib, f = _loops()
    T, GH, B = G.shape
    _need_d_out(lengths, d_out)
    len_p, mask_p, _keep = _padding(lengths, GH // 3, B)
    work = torch.empty(GH // 3, B, dtype=F32)
    lib.rnnkit_gru_after_backward(f, W_h.data_ptr(), W_h.stride(0), _ptr(G), _ptr(C_prev), _ptr(N), _ptr(dZ),
                                  _ptr(dN), _ptr(d_out), _ptr(dc), _ptr(d_c_0), _ptr(work), len_p, mask_p, T, GH // 3,
                                  B, reverse, torch.get_num_threads())


def rnn_forward(W_h, G, S, reverse: bool, relu: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one vanilla RNN direction (``rnnkit_rnn_forward``): G (T, H, B) pre-activations;
    S (T + 1, H, B) states; ``lengths`` as for :func:`lstm_forward`."""
    lib, f = _loops()
    T, H, B = G.shape
    len_p, mask_p, _keep = _padding(lengths, H, B)
    lib.rnnkit_rnn_forward(f, W_h.data_ptr(), W_h.stride(0), _ptr(G), _ptr(S), len_p, mask_p, T, H, B, reverse, relu,
                           torch.get_num_threads())


def rnn_backward(W_h, A, dZ, d_out, da, da_0, reverse: bool, relu: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one vanilla RNN direction in reverse (``rnnkit_rnn_backward``): A (T, H, B) the state
    each step wrote."""
    lib, f = _loops()
    T, H, B = dZ.shape
    _need_d_out(lengths, d_out)
    len_p, mask_p, _keep = _padding(lengths, H, B)
    work = torch.empty(H, B, dtype=F32)
    lib.rnnkit_rnn_backward(f, W_h.data_ptr(), W_h.stride(0), _ptr(A), _ptr(dZ), _ptr(d_out), _ptr(da), _ptr(da_0),
                            _ptr(work), len_p, mask_p, T, H, B, reverse, relu, torch.get_num_threads())


def simple_gru_forward(W_h, G, S, reverse: bool, lengths: torch.Tensor | None = None) -> None:
    """Every step of one simplified-GRU direction (``rnnkit_simple_gru_forward``): G (T, 2H, B)."""
    lib, f = _loops()
    T, GH, B = G.shape
    len_p, mask_p, _keep = _padding(lengths, GH // 2, B)
    lib.rnnkit_simple_gru_forward(f, W_h.data_ptr(), W_h.stride(0), _ptr(G), _ptr(S), len_p, mask_p, T, GH // 2, B,
                                  reverse, torch.get_num_threads())


def simple_gru_backward(W_h, G, C_prev, dZ, d_out, dc, d_c_0, reverse: bool,
                        lengths: torch.Tensor | None = None) -> None:
    """Every step of one simplified-GRU direction in reverse (``rnnkit_simple_gru_backward``)."""
    lib, f = _loops()
    T, GH, B = G.shape
    _need_d_out(lengths, d_out)
    len_p, mask_p, _keep = _padding(lengths, GH // 2, B)
    work = torch.empty(GH // 2, B, dtype=F32)
    lib.rnnkit_simple_gru_backward(f, W_h.data_ptr(), W_h.stride(0), _ptr(G), _ptr(C_prev), _ptr(dZ), _ptr(d_out),
                                   _ptr(dc), _ptr(d_c_0), _ptr(work), len_p, mask_p, T, GH // 2, B, reverse,
                                   torch.get_num_threads())


def _input_layout(inputs: torch.Tensor) -> tuple[int, int] | None:
    """(rows, ld) for ``rnnkit_weight_grad``: each step (m, B) of ``inputs`` with contiguous rows (1, row
    stride) or contiguous columns (0, column stride), with a stride BLAS accepts as a leading dimension."""
    _, m, B = inputs.shape
    if inputs.stride(2) == 1 and inputs.stride(1) >= max(1, B):
        return 1, inputs.stride(1)
    if inputs.stride(1) == 1 and inputs.stride(2) >= max(1, m):
        return 0, inputs.stride(2)
    return None


def weight_grad_takes(dZ: torch.Tensor, inputs: torch.Tensor) -> bool:
    """Whether :func:`weight_grad` computes ``Σ_t dZ<t> inputs<t>ᵀ`` for these layouts: float32 CPU, each
    step's rows of ``dZ`` contiguous, and ``inputs`` steps with contiguous rows or columns."""
    return (dZ.dtype == inputs.dtype == torch.float32 and dZ.device.type == inputs.device.type == "cpu"
            and dZ.stride(2) == 1 and dZ.stride(1) >= max(1, dZ.shape[2]) and _input_layout(inputs) is not None
            and _loops() is not None)


def weight_grad(dZ: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``Σ_t dZ<t> inputs<t>ᵀ``: (T, n, B) × (T, m, B) → (n, m), one sgemm per step in one call
    (``rnnkit_weight_grad``)."""
    lib, f = _loops()
    T, n, B = dZ.shape
    m = inputs.shape[1]
    rows, ld = _input_layout(inputs)
    out = torch.empty(n, m, dtype=F32)
    lib.rnnkit_weight_grad(f, dZ.data_ptr(), dZ.stride(0), dZ.stride(1), inputs.data_ptr(), inputs.stride(0), rows,
                           ld, out.data_ptr(), T, n, m, B)
    return out
