"""The contract between the time loop (:mod:`rnnkit.engine.bptt`) and one cell's hand-written step.

Inside the loop every per-step tensor is stored *feature-major*, ``(features, B)``: a state is (H, B), the
gate pre-activations of all gates are (G·H, B), so each gate's block ``z[g·H:(g+1)·H]`` is contiguous and
the elementwise kernels run on contiguous memory (on a 2-core CPU about 1.6× faster than slicing the
columns of a (B, G·H) row-major tensor). The recurrent GEMM reads ``z = xp<t> + W_h a<t-1>``.

A kernel is built once per call for T steps, indexed by time t (the backward direction simply visits
t = T-1 … 0). The input projections ``xp`` (T, G·H, B) are the kernel's to overwrite: each step adds the
recurrent GEMM into ``xp<t>`` in place (no copy) and writes the gate activations over the pre-activations.
The loop owns the states; the kernel keeps what its backward needs (gate activations) in
(T, …, B) buffers allocated once, and fills the gradient of the gate pre-activations ``dZ`` (T, G·H, B)
step by step in reverse. Weight gradients are accumulated after the loop (:meth:`finish`).
"""

from __future__ import annotations

import functools

import torch

from rnnkit.engine import native

# One kernel each, written into a given buffer: grad * s * (1 - s) from s = σ(z), grad * (1 - t²) from
# t = tanh(z). Called as f(grad, activation, grad_input=out).
sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
tanh_backward = torch.ops.aten.tanh_backward.grad_input


class Kernel:
    """One cell's step forward and backward over preallocated buffers; subclasses fill in the equations."""

    state_names: tuple[str, ...] = ("a",)
    # Whether :meth:`step` reads ``prev[0]`` only in its GEMM ``W_h prev[0]``: then a caller may pass the
    # stacked ``[x<t>; a<t-1>]`` with ``W_h = [W_x | W_h]`` (and ``H``) to get the input projection in the
    # same GEMM (generation, :mod:`rnnkit.engine.step`).
    stacked_input = False
    # Whether :meth:`bind` can compute a batch-1 step's GEMV with :func:`one_row_linear`.
    binds_one_row = False
    # The compiled batch-1 step computing the same equations (:func:`rnnkit.engine.native.bind_step`).
    native_step: str | None = None
    # Whether compiled training loops (``native/train_*.c``) compute this kernel's steps: :meth:`run_loop` and
    # :meth:`run_loop_backward`, used by :meth:`forward_loop` / :meth:`backward_loop` where they take it.
    compiled_loops = False

    def __init__(self, W_h: torch.Tensor, extra: torch.Tensor | None, xp: torch.Tensor, H: int | None = None):
        self.W_h = W_h                    # (G·H, H), or (G·H, X + H) stacked
        self.extra = extra
        self.xp = xp
        self.T, self.GH, self.B = xp.shape
        self.H = W_h.shape[1] if H is None else H
        self.dZ: torch.Tensor | None = None
        # float32 on the CPU: the whole loop each way in one compiled call, same buffers and equations (only
        # for a training W_h (G·H, H), never a stepper's stacked [W_x | W_h])
        self.compiled = self.compiled_loops and self.H == W_h.shape[1] and native.loops_take(W_h, xp)
        self.looped = False               # the forward ran compiled, so the backward does too
        self.lengths: torch.Tensor | None = None   # the compiled loops' padding (int32), see forward_loop

    def buffer(self, rows: int) -> torch.Tensor:
        """An uninitialised (T, rows, B) buffer."""
        return torch.empty(self.T, rows, self.B, dtype=self.W_h.dtype, device=self.W_h.device)

    def step(self, t: int, xp_t: torch.Tensor, prev: tuple, dest: tuple) -> None:
        """Step t: write the new state into ``dest`` from ``prev`` (each (H, B)) and ``xp_t`` (G·H, B)."""
        raise NotImplementedError

    def bind(self, xp_t: torch.Tensor, prev: tuple, dest: tuple, bias: torch.Tensor | None = None,
             one_row: bool = False):
        """A function of no arguments that runs :meth:`step` for t = 0 on these fixed buffers, for a stepper
        that calls it once per token. With ``bias`` (G·H, 1) the pre-activations start from it (the GEMM of
        a ``stacked_input`` step adds everything else); without it ``xp_t`` must hold them already.
        ``one_row`` (only where ``binds_one_row``, B = 1 and :func:`one_row_gemv`) computes the GEMV with
        :func:`one_row_linear`.
        Subclasses may return a leaner function with every view made once."""
        step = functools.partial(self.step, 0, xp_t, prev, dest)
        if bias is None:
            return step

        def run():
            xp_t.copy_(bias)
            step()
        return run

    def forward_loop(self, S: list, reverse: bool, lengths: torch.Tensor | None = None) -> bool:
        """Run every step at once, where a compiled loop computes this kernel: ``S[i]`` (T + 1, H, B) holds
        state i at the step boundaries, the initial one filled in; ``lengths`` (B) int32 or None: step t
        exists in sequence b when t < lengths[b], and past the end the loop holds the state (the outputs'
        zeros are the caller's). False: the caller loops over :meth:`step`."""
        if not self.compiled:
            return False
        self.lengths = lengths
        self.run_loop(S, reverse)
        self.looped = True
        return True

    def backward_loop(self, d_out: torch.Tensor | None, d_state: list, reverse: bool,
                      x: torch.Tensor) -> tuple | None:
        """Every step of :meth:`back` at once, after a compiled forward (and :meth:`start_backward`, which
        then skips the per-step factors the compiled loop computes itself): ``d_out`` (T, H, B) the outputs'
        gradients (completed in place, like the caller's loop does; zero past each sequence's end, and not
        None with ``lengths``), ``d_state`` the final state's gradients (own buffers, overwritten), ``x``
        (T, B, X) the layer's input; returns the initial state's. Past a sequence's end the state's gradient
        passes through unchanged. None: the caller loops over :meth:`back`."""
        return self.run_loop_backward(d_out, d_state, reverse, x) if self.looped else None

    def run_loop(self, S: list, reverse: bool) -> None:
        raise NotImplementedError

    def run_loop_backward(self, d_out: torch.Tensor | None, d_state: list, reverse: bool, x: torch.Tensor) -> tuple:
        raise NotImplementedError

    def back(self, t: int, d_new: tuple, acc: torch.Tensor | None) -> tuple:
        """Step t in reverse: from the gradient of the new state, fill ``dZ[t]`` and return the gradient
        of the previous state through the cell (what it needs of the states, :meth:`start_backward` has
        prepared for all steps at once). ``acc`` is None or an (H, B) buffer holding the gradient ``a<t-1>``
        gets from elsewhere (its output): the kernel adds its own part into it in place and returns it,
        which saves the loop an addition per step. ``d_new`` may be overwritten."""
        raise NotImplementedError

    def start_backward(self, prev: list, new: list) -> None:
        """Before the reverse loop: ``prev[i][t]`` / ``new[i][t]`` are state i before / after step t (T, H, B)."""
        self.prev, self.new = prev, new
        self.W_hT = self.W_h.t()
        self.dZ = self.buffer(self.GH)
        self.dz = self.dZ.unbind(0)

    def finish(self) -> tuple:
        """After the reverse loop: (d W_h (G·H, H), d extra or None); ``dZ`` is the gradient of ``xp``."""
        return self.weight_grad(self.dZ, self.prev[0]), None

    def input_weight_grad(self, x: torch.Tensor) -> torch.Tensor:
        """After the reverse loop: d W_x = Σ_t dZ<t> x<t>ᵀ (G·H, X) for the layer's input x (T, B, X)."""
        return self.weight_grad(self.dZ, x.transpose(1, 2))

    @staticmethod
    def weight_grad(dZ: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Σ_t dZ<t> inputs<t>ᵀ: (T, n, B) × (T, m, B) → (n, m), one K = B GEMM per step accumulated in place
        (a single GEMM would need both operands transposed to (n, T·B) first, which costs more on a CPU).
        Float32 on the CPU: the same GEMMs in one compiled call (:func:`rnnkit.engine.native.weight_grad`)."""
        if native.weight_grad_takes(dZ, inputs):
            return native.weight_grad(dZ, inputs)
        dz, inp = dZ.unbind(0), inputs.transpose(1, 2).unbind(0)
        out = dz[0].mm(inp[0])
        for t in range(1, len(dz)):
            out.addmm_(dz[t], inp[t])
        return out


def one_row_linear(x: torch.Tensor, W: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x Wᵀ (+ bias)`` for one row ``x`` (1, K) and a contiguous W (N, K): a new (1, N) tensor.

    A batch-1 step's GEMV is memory-bound, and both kernels used here stream the weights faster than
    ``torch.mm`` (MKL) does: the compiled one (:mod:`rnnkit.engine.native`) where it is built, else oneDNN's
    linear (on the 2-core AVX2 development machine 201 against 336 µs for a (2048, 1536) float32 matrix,
    against 137 µs for merely summing it). All float32, summed in different orders. Only where
    :func:`one_row_gemv` says so."""
    if native.available():
        return native.linear_row(x, W, bias)
    return torch.ops.mkldnn._linear_pointwise(x, W, bias, "none", [], "")


def one_row_gemv(W: torch.Tensor) -> bool:
    """Whether a batch-1 step can compute ``x Wᵀ`` with :func:`one_row_linear`: a contiguous float32 CPU
    ``W``, and the compiled kernels, or a torch whose oneDNN linear is there and agrees with ``torch.mm``."""
    return (W.device.type == "cpu" and W.dtype == torch.float32 and W.is_contiguous()
            and (native.available() or _one_row_linear_works()))


@functools.cache
def _one_row_linear_works() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    W, x = torch.linspace(-1, 1, 12).view(3, 4), torch.tensor([[1.0, 2.0, -1.0, 0.5]])
    try:
        out = torch.ops.mkldnn._linear_pointwise(x, W, torch.ones(3), "none", [], "")
        return torch.allclose(out, x.mm(W.t()) + 1, atol=1e-6)
    except (AttributeError, RuntimeError):            # an op missing from this torch build
        return False


def mm_into(acc: torch.Tensor | None, W: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``acc + W v`` written into ``acc`` (or ``W v`` when ``acc`` is None)."""
    return torch.mm(W, v) if acc is None else acc.addmm_(W, v)


def mul_into(acc: torch.Tensor | None, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``acc + a * b`` written into ``acc`` (or ``a * b`` when ``acc`` is None)."""
    return torch.mul(a, b) if acc is None else acc.addcmul_(a, b)
