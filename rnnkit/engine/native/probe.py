"""The checks a freshly loaded library passes before it is used: every compiled step against the torch
kernel it replaces (:mod:`rnnkit.engine.kernels`), and every compiled training loop against the Python
loop, on small problems with odd sizes."""

from __future__ import annotations

import contextlib
import itertools

import torch


@contextlib.contextmanager
def _float32_default():
    """The probes build their problems in float32, whatever default dtype the caller has set."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(default)


def agrees(lib) -> bool:
    from rnnkit.engine.native.calls import probing

    # A probe must not move the user's random stream; its torch kernels must not ask for the training loops
    # (which need this library first).
    with torch.random.fork_rng(devices=[]), probing("reference"), _float32_default():
        return _agrees(lib)


def _agrees(lib) -> bool:
    from rnnkit.engine import kernels
    from rnnkit.engine.native.calls import STEPS, bind_step, linear_row

    g = torch.Generator().manual_seed(0)
    H, X = 5, 3
    cases = [(kernels.LSTMKernel, False), (kernels.PeepholeLSTMKernel, True), (kernels.SimpleGRUKernel, False),
             (kernels.GRUKernel, False), (kernels.GRUResetAfterKernel, True), (kernels.RNNTanhKernel, False),
             (kernels.RNNReLUKernel, False)]
    for cls, has_extra in cases:
        G = STEPS[cls.native_step][0]
        W, b = torch.randn(G * H, X + H, generator=g), torch.randn(G * H, generator=g)
        v = torch.randn(X + H, generator=g)
        extra = torch.randn(3 if cls.native_step == "lstm" else 1, H, generator=g).squeeze(0) if has_extra else None
        states = [torch.randn(H, generator=g) for _ in cls.state_names]
        # torch: the training kernel for T = 1, fed the way the engine feeds it (stacked or not)
        xp = (b + (0 if cls.stacked_input else W[:, :X] @ v[:X])).view(1, -1, 1).clone()
        kernel = cls(W if cls.stacked_input else W[:, X:].contiguous(), extra, xp, H)
        read = v.view(-1, 1) if cls.stacked_input else v[X:].view(-1, 1)
        want = [torch.empty(H, 1) for _ in states]
        kernel.step(0, xp[0], (read, *(s.view(-1, 1) for s in states[1:])), tuple(want))
        # compiled
        v_c, c = v.clone(), (states[1].clone() if cls.native_step == "lstm" else None)
        bind_step(cls.native_step, W, v_c, b, extra, v_c[X:], c, lib=lib)()
        got = [v_c[X:], *([c] if c is not None else [])]
        if not all(torch.allclose(u.view(-1), w.view(-1), atol=1e-5) for u, w in zip(got, want)):
            return False
    W, x = torch.randn(7, H, generator=g), torch.randn(1, H, generator=g)
    return torch.allclose(linear_row(x, W, None, lib=lib), x @ W.t(), atol=1e-5)


def loops_agree(as_reference, on_trial) -> bool:
    """A cell of every form the compiled loops compute (LSTM plain and with peepholes, GRU with the reset
    before and after, simplified GRU, RNN tanh and relu), each direction, with and without padding, through the
    fused engine with a carried state: outputs, final state and every gradient, once on the Python kernel
    (``as_reference(fn)``) and once on the compiled loops (``on_trial(fn)``)."""
    # Building the cells draws from the generator; the first use may come from inside ``torch.inference_mode``,
    # where no tensor could be saved for the backward pass the probe checks.
    with torch.random.fork_rng(devices=[]), _float32_default(), torch.inference_mode(False):
        return _loops_agree(as_reference, on_trial)


def _loops_agree(as_reference, on_trial) -> bool:
    from rnnkit.cells import GRUCell, LSTMCell, RNNCell, SimpleGRUCell
    from rnnkit.engine.bptt import run_fused

    g = torch.Generator().manual_seed(1)
    for cell in (LSTMCell(3, 5), LSTMCell(3, 5, peephole=True), GRUCell(3, 5), GRUCell(3, 5, reset_after=True),
                 SimpleGRUCell(3, 5), RNNCell(3, 5), RNNCell(3, 5, nonlinearity="relu")):
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        x = torch.randn(4, 3, 3, generator=g, requires_grad=True)
        state = tuple(torch.randn(3, 5, generator=g, requires_grad=True) for _ in cell.state_names)
        inputs = [x, *state, *cell.parameters()]
        for reverse, lengths in itertools.product((False, True), (None, torch.tensor([2, 4, 1]))):
            @torch.enable_grad()                  # the first use may come from inside a forward pass
            def run(cell=cell, x=x, state=state, inputs=inputs, reverse=reverse, lengths=lengths):
                y, final = run_fused(cell, x, state, lengths, reverse)
                loss = (y * y.detach().cos()).sum() + sum(s.sum() * 0.5 ** k for k, s in enumerate(final))
                return [y, *final, *torch.autograd.grad(loss, inputs)]
            want, got = as_reference(run), on_trial(run)
            if not all(torch.allclose(u, w, atol=1e-4, rtol=1e-4) for u, w in zip(got, want)):
                return False
    return True
