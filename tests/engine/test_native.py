"""The compiled batch-1 kernels (rnnkit/engine/native): each against the equations written with torch, the
stepper that uses them against the forward pass, the build cache, and the fall-back to torch's kernels."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

import rnnkit
from rnnkit.engine import Stepper, native
from rnnkit.engine.native import build
from rnnkit.models import LanguageModel
from tests.conftest import LAYER_CLASS, run_layer

needs_compiler = pytest.mark.skipif(build.compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """``library()`` built afresh into an empty cache under this test's environment."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    native.reset()
    yield tmp_path
    native.reset()


@needs_compiler
def test_the_kernels_build_here():
    assert native.available(), native.reason()
    assert native.reason() == "loaded"


@needs_compiler
@pytest.mark.parametrize("N, K", [(1, 1), (7, 5), (65, 512), (1001, 40)])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_row_equals_a_matrix_product(N, K, bias):
    W, x, b = torch.randn(N, K), torch.randn(1, K), torch.randn(N) if bias else None
    want = x.double() @ W.double().t() + (b.double() if bias else 0)
    torch.testing.assert_close(native.linear_row(x, W, b), want.float(), atol=1e-5, rtol=1e-5)


@needs_compiler
def test_kernels_refuse_what_they_cannot_read():
    W, x = torch.randn(8, 4), torch.randn(1, 4)
    with pytest.raises(ValueError, match="float32"):
        native.linear_row(x.double(), W.double())
    with pytest.raises(ValueError, match="not contiguous"):
        native.linear_row(x, torch.randn(4, 8).t())
    with pytest.raises(ValueError, match="shapes"):
        native.bind_step("lstm", torch.randn(8, 3), torch.randn(3), torch.randn(8), None, torch.randn(2),
                         torch.randn(2)[:1])
    with pytest.raises(ValueError, match="shapes"):                    # an LSTM needs its cell state
        native.bind_step("lstm", torch.randn(8, 3), torch.randn(3), torch.randn(8), None, torch.randn(2))


def by_hand(layer, x):
    """The layer's outputs from the notes' equations (tests/conftest.py), in float64: x (T, 1, X)."""
    outputs, final = run_layer(copy.deepcopy(layer).double(), x.double())
    return outputs.float(), tuple(s.float() for s in final)


@needs_compiler
@pytest.mark.parametrize("H, X", [(5, 3), (130, 140)])                # one thread, and both cores
def test_batch_one_stepper_runs_compiled_and_equals_the_equations(cell_spec, H, X):
    """Two layers at B = 1 in float32, every cell form: each layer steps through its compiled kernel, and the
    stream equals the equations, also after an in-place update of every parameter mid-stream."""
    cls, options = cell_spec
    layer = LAYER_CLASS[cls](X, H, num_layers=2, **options)
    with torch.no_grad():                                           # out of every nonlinearity's linear region
        for p in layer.parameters():
            p.mul_(2.0)
    x = torch.randn(8, 1, X)
    with torch.no_grad():
        stepper = Stepper(layer, None, 1)
        assert all(getattr(step, "compiled", False) for _, step in stepper.plans)
        tops = [stepper.step(x[t]).clone() for t in range(4)]
        early, state = by_hand(layer, x[:4])
        for p in layer.parameters():
            p.mul_(0.9)
        tops += [stepper.step(x[t]).clone() for t in range(4, 8)]
    late, _ = run_layer(copy.deepcopy(layer).double(), x[4:].double(), tuple(s.double() for s in state))
    torch.testing.assert_close(torch.stack(tops), torch.cat([early, late.float()]), atol=2e-5, rtol=1e-5)


@needs_compiler
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_streams_compiled_from_its_table(cell):
    """With an embedding, layer 1 reads its input projection from the table and steps compiled: the logits
    of a stepped stream equal one forward call."""
    lm = LanguageModel(13, 48, num_layers=2, cell=cell, embedding_size=16).eval()
    ids = torch.randint(13, (1, 20))
    with torch.no_grad():
        stepper = Stepper(lm.rnn, None, 1, embedding=lm.embedding)
        assert all(getattr(step, "compiled", False) for _, step in stepper.plans)
        stepped = torch.stack([lm.head(stepper.step_ids(ids[:, t])) for t in range(20)], 1)
        logits, _ = lm(ids)
    torch.testing.assert_close(stepped, logits, atol=1e-5, rtol=1e-5)


@needs_compiler
def test_the_build_is_cached_and_atomic(fresh_build, monkeypatch):
    assert native.available()
    built = list(fresh_build.iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"                # no temporary file left behind
    native.reset()
    monkeypatch.setattr(build, "_compile", lambda *a: pytest.fail("compiled again despite the cache"))
    assert native.available()


def _generation_without_kernels():
    torch.manual_seed(0)
    lm = LanguageModel(11, 32, num_layers=2).eval()
    prime = torch.tensor([1, 2])
    with torch.no_grad():
        stepper = Stepper(lm.rnn, None, 1, embedding=lm.embedding)
        assert not any(getattr(step, "compiled", False) for _, step in stepper.plans)
        tops = torch.stack([stepper.step_ids(prime[t:t + 1]).clone() for t in range(2)])
        y, _ = lm.rnn(lm.embedding(prime.view(1, 2)))                 # the model's layer is batch-first
    torch.testing.assert_close(tops.transpose(0, 1), y, atol=1e-5, rtol=1e-5)
    assert lm.generate(prime, 10, generator=torch.Generator().manual_seed(0)).shape == (10,)


def test_disabled_by_the_environment_falls_back_to_torch(fresh_build, monkeypatch):
    monkeypatch.setenv("RNNKIT_NATIVE", "0")
    assert not native.available() and "RNNKIT_NATIVE=0" in native.reason()
    _generation_without_kernels()


def test_a_failing_compiler_falls_back_to_torch_and_leaves_no_files(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "false")                                 # a "compiler" that always fails
    assert not native.available()
    assert native.reason().startswith("build failed")
    assert list(fresh_build.iterdir()) == []
    _generation_without_kernels()


def test_an_unwritable_cache_says_where_to_build(monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", "/proc/rnnkit-cannot-be-here")
    native.reset()
    try:
        if build.compiler() is not None:
            assert not native.available() and "RNNKIT_CACHE" in native.reason()
    finally:
        native.reset()


# form -> (layer maker, the native loop's name)
COMPILED_FORMS = {
    "lstm": (rnnkit.LSTM, "lstm"),
    "lstm-peephole": (functools.partial(rnnkit.LSTM, peephole=True), "lstm"),
    "gru": (rnnkit.GRU, "gru"),
    "gru-reset-after": (functools.partial(rnnkit.GRU, reset_after=True), "gru_after"),
    "gru-reset-after-nobias": (functools.partial(rnnkit.GRU, reset_after=True, bias=False), "gru_after"),
    "lstm-nobias": (functools.partial(rnnkit.LSTM, bias=False), "lstm"),
    "simple-gru": (rnnkit.SimpleGRU, "simple_gru"),
    "rnn-tanh": (rnnkit.RNN, "rnn"),
    "rnn-relu": (functools.partial(rnnkit.RNN, nonlinearity="relu"), "rnn"),
}


@needs_compiler
@pytest.mark.parametrize("form", list(COMPILED_FORMS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("H, B", [(6, 3), (64, 40)])                  # one thread, and both cores
def test_compiled_training_loops_equal_the_reference_loop(monkeypatch, form, bidirectional, H, B):
    """A float32 CPU layer of every form the compiled loops compute (the LSTM small enough to take them),
    each direction, with a carried state: outputs, final state and every gradient equal the plain loop over
    the cell."""
    assert native.training_loops() is not None                         # built and probed before counting
    calls = []

    def counted(name, run):
        return lambda *args: (calls.append(name), run(*args))[1]
    make, loop = COMPILED_FORMS[form]
    for name in (f"{loop}_forward", f"{loop}_backward", "weight_grad"):
        monkeypatch.setattr(native, name, counted(name, getattr(native, name)))
    layer = make(5, H, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(7, B, 5, requires_grad=True)
    state = tuple(torch.randn(2 * (1 + bidirectional), B, H, requires_grad=True) for _ in layer.state_names)
    inputs = [x, *state, *layer.parameters()]

    def run():
        y, final = layer(x, state)
        loss = (y * y.detach().cos()).sum() + sum(s.sum() * 0.5 ** k for k, s in enumerate(final))
        return [y, *final, *torch.autograd.grad(loss, inputs)]
    got = run()
    directions = 2 * (1 + bidirectional)
    assert calls.count(f"{loop}_forward") == calls.count(f"{loop}_backward") == directions
    if loop != "lstm":                     # the LSTM's loop accumulates its weight gradients itself
        assert calls.count("weight_grad") >= 2 * directions              # W_h and W_x of every direction
    layer.engine = "reference"
    for u, w in zip(got, run()):
        torch.testing.assert_close(u, w, atol=2e-5, rtol=1e-4)


@needs_compiler
@pytest.mark.parametrize("form", list(COMPILED_FORMS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("carry", [False, True])
@pytest.mark.parametrize("H, B", [(6, 4), (64, 40)])                  # one thread, and both cores
def test_compiled_loops_with_lengths_equal_the_reference_loop(monkeypatch, form, bidirectional, carry, H, B):
    """Padded batches run the compiled loops each way (the mask in C), and equal the plain loop over the cell
    with ``lengths``: outputs, final states and every gradient, to 1e-5 in float32. The kernels' work buffers
    start as NaN, so a value the loops leave uncomputed past a sequence's end cannot reach a result unseen."""
    from rnnkit.engine.kernels.base import Kernel

    assert native.training_loops() is not None
    monkeypatch.setattr(Kernel, "buffer", lambda self, rows: torch.full((self.T, rows, self.B), float("nan")))
    calls = []
    make, loop = COMPILED_FORMS[form]
    for name in (f"{loop}_forward", f"{loop}_backward"):
        run_native = getattr(native, name)
        monkeypatch.setattr(native, name, lambda *a, _n=name, _r=run_native, **k: (calls.append(_n), _r(*a, **k))[1])
    layer = make(5, H, num_layers=2, bidirectional=bidirectional)
    T = 9
    lengths = torch.randint(1, T + 1, (B,), generator=torch.Generator().manual_seed(B))
    lengths[1] = T                                            # longest not first: the engine reorders the batch
    x = torch.randn(T, B, 5, requires_grad=True)
    D = 1 + bidirectional
    state = tuple(torch.randn(2 * D, B, H, requires_grad=True) for _ in layer.state_names) if carry else None
    inputs = [x, *(state or ()), *layer.parameters()]

    def run():                                                # a loss per sequence, averaged as in training
        y, final = layer(x, state, lengths=lengths)
        loss = (y * y.detach().cos()).sum() + sum(s.sum() * 0.5 ** k for k, s in enumerate(final))
        return [y, *final, *torch.autograd.grad(loss / B, inputs)]
    got = run()
    assert calls.count(f"{loop}_forward") == calls.count(f"{loop}_backward") == 2 * D
    layer.engine = "reference"
    want = run()
    assert torch.all(want[0][lengths[0]:, 0] == 0)             # the reference's zeros past the end, kept
    for u, w in zip(got, want):
        torch.testing.assert_close(u, w, atol=1e-5, rtol=1e-5)


@needs_compiler
@pytest.mark.parametrize("form", list(COMPILED_FORMS))
@pytest.mark.parametrize("reverse", [False, True])
def test_compiled_loops_take_any_order_of_lengths(form, reverse):
    """The compiled loops' mask on a batch in no particular order (no reordering in front), with sequences
    shorter than every step of some steps (no sequence has the last two): equal to the plain loop."""
    from rnnkit.engine.bptt import Recurrence, live_mask
    from rnnkit.engine.layout import fuse, kernel_class
    from rnnkit.engine.reference import run_reference

    make, _ = COMPILED_FORMS[form]
    cell = make(3, 8).cells[0]
    kernel_cls = kernel_class(cell)
    T, lengths = 8, torch.tensor([2, 6, 1, 6, 3])
    x = torch.randn(T, 5, 3, requires_grad=True)
    state = tuple(torch.randn(5, 8, requires_grad=True) for _ in cell.state_names)
    inputs = [x, *state, *cell.parameters()]

    def loss_and_grads(y, final):
        loss = (y * y.detach().cos()).sum() + sum(s.sum() * 0.5 ** k for k, s in enumerate(final))
        return [y, *final, *torch.autograd.grad(loss, inputs)]
    W_h, W_x, b, extra = fuse(cell)
    y, *final = Recurrence.apply(kernel_cls, reverse, x, W_x, b, W_h, extra, live_mask(lengths, T), *state)
    got = loss_and_grads(y, final)
    want = loss_and_grads(*run_reference(cell, x, state, lengths, reverse))
    for u, w in zip(got, want):
        torch.testing.assert_close(u, w, atol=1e-5, rtol=1e-5)


@needs_compiler
def test_weight_gradient_reads_every_layout():
    """Σ_t dZ<t> inputs<t>ᵀ for a state (T, m, B), an input read transposed (T, B, m)ᵀ, and the degenerate
    widths, from a (T, ·, B) slice of dZ; a layout BLAS cannot take is left to torch."""
    dZ = torch.randn(5, 9, 4)[:, 1:8]
    for inputs in (torch.randn(5, 3, 4), torch.randn(5, 4, 3).transpose(1, 2), torch.randn(5, 4, 1).transpose(1, 2),
                   torch.randn(5, 1, 4)):
        assert native.weight_grad_takes(dZ, inputs)
        want = sum(dZ[t].double() @ inputs[t].double().t() for t in range(5))
        torch.testing.assert_close(native.weight_grad(dZ, inputs), want.float(), atol=1e-5, rtol=1e-5)
    assert not native.weight_grad_takes(dZ, torch.randn(5, 3, 8)[:, :, ::2])          # neither stride is 1
    assert not native.weight_grad_takes(dZ.double(), torch.randn(5, 3, 4).double())


@needs_compiler
def test_probing_leaves_the_random_stream_alone():
    """Building and probing the kernels (which makes cells) must not move torch's global generator: exact
    resume relies on it."""
    native.reset()
    before = torch.get_rng_state()
    assert native.available() and native.training_loops() is not None
    assert torch.equal(torch.get_rng_state(), before)


@needs_compiler
def test_compiled_lstm_backward_on_one_thread_equals_two():
    """The LSTM's backward overlaps its weight gradients with the loop on two threads, and runs them after it
    on one: the same gradients either way, to float32 rounding."""
    layer = rnnkit.LSTM(5, 32, num_layers=2)
    x = torch.randn(9, 8, 5)

    def grads():
        y, _ = layer(x)
        return torch.autograd.grad(y.pow(2).sum(), list(layer.parameters()))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = grads()
        torch.set_num_threads(1)
        one = grads()
    finally:
        torch.set_num_threads(threads)
    for u, w in zip(one, two):
        torch.testing.assert_close(u, w, atol=1e-5, rtol=1e-5)


@needs_compiler
def test_a_float64_default_dtype_changes_nothing():
    """With torch's default dtype set to float64, the kernels still build, probe and run float32 layers."""
    default = torch.get_default_dtype()
    native.reset()
    try:
        torch.set_default_dtype(torch.float64)
        assert native.available() and native.training_loops() is not None
        layer = rnnkit.GRU(4, 6, num_layers=2, dtype=torch.float32)
        x = torch.randn(5, 3, 4, dtype=torch.float32)
        y, _ = layer(x)
        grads = torch.autograd.grad(y.pow(2).sum(), list(layer.parameters()))
        lm = LanguageModel(9, 12, num_layers=2).float().eval()
        assert lm.generate(torch.tensor([1, 2]), 4).shape == (4,)
    finally:
        torch.set_default_dtype(default)
        native.reset()
    layer.engine = "reference"
    y_ref, _ = layer(x)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    for g, g_ref in zip(grads, torch.autograd.grad(y_ref.pow(2).sum(), list(layer.parameters()))):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-4)


@needs_compiler
def test_the_first_use_may_come_from_inside_inference_mode():
    """The probe that checks the compiled loops runs a backward pass; a first layer call made under
    ``torch.inference_mode`` (as a user's decoding loop may be) still probes, uses the loops and answers."""
    native.reset()
    layer = rnnkit.GRU(4, 6, bidirectional=True)
    x = torch.randn(5, 3, 4)
    with torch.inference_mode():
        y, _ = layer(x)
        assert native.training_loops() is not None
    with torch.no_grad():
        torch.testing.assert_close(y.clone(), layer(x)[0])
