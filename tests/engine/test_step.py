"""The stepping path for generation: equals the cell and the forward call, reuses its fused weights and the
embedding table, notices parameter updates, samples exactly like the reference engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from scipy import stats

import rnnkit
from rnnkit import generation
from rnnkit.engine import Stepper, native
from rnnkit.engine import step as step_module
from rnnkit.engine.kernels import base as kernels_base
from rnnkit.generation import Sampler
from rnnkit.models import LanguageModel
from tests.conftest import LAYER_CLASS


def test_step_equals_reference_step(cell_spec):
    cls, options = cell_spec
    layer = LAYER_CLASS[cls](3, 5, num_layers=2, dtype=torch.float64, **options)
    state = tuple(torch.randn(2, 4, 5, dtype=torch.float64) for _ in layer.state_names)
    x_t = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        a, new = layer.step(x_t, state)
        layer.engine = "reference"
        a_ref, new_ref = layer.step(x_t, state)
    torch.testing.assert_close(a, a_ref, atol=1e-12, rtol=0)
    for s, s_ref in zip(new, new_ref):
        torch.testing.assert_close(s, s_ref, atol=1e-12, rtol=0)


def test_fused_weights_are_cached_until_a_parameter_changes():
    layer = rnnkit.LSTM(3, 5)
    cell = layer.cells[0]
    with torch.no_grad():
        first = step_module.cached_weights(cell)
        assert step_module.cached_weights(cell) is first           # no re-fusing on a repeated call
        cell.W_u.add_(1.0)                                         # an optimizer-style in-place update
        updated = step_module.cached_weights(cell)
    assert updated is not first
    torch.testing.assert_close(updated.W_h[:5], cell.W_u[:, :5])
    x_t = torch.randn(2, 3)
    with torch.no_grad():
        a, _ = layer.step(x_t)
        layer.engine = "reference"
        a_ref, _ = layer.step(x_t)
    torch.testing.assert_close(a, a_ref, atol=1e-6, rtol=0)


def test_stepper_equals_forward_and_refuses_stale_weights(cell_spec):
    """Many steps on one Stepper equal one forward call, also after an in-place update between steps."""
    cls, options = cell_spec
    layer = LAYER_CLASS[cls](3, 5, num_layers=3, dtype=torch.float64, **options)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    state = tuple(torch.randn(3, 2, 5, dtype=torch.float64) for _ in layer.state_names)
    with torch.no_grad():
        stepper = Stepper(layer, state)
        assert stepper.fast
        tops = [stepper.step(x[t]).clone() for t in range(3)]
        y, s = layer(x[:3], state)
        torch.testing.assert_close(torch.stack(tops), y, atol=1e-12, rtol=0)
        for u, v in zip(stepper.state(), s):
            torch.testing.assert_close(u, v, atol=1e-12, rtol=0)
        for p in layer.parameters():                                # e.g. an optimizer step mid-stream
            p.mul_(0.9)
        tops = [stepper.step(x[t]).clone() for t in range(3, 6)]
        y, s = layer(x[3:], s)
    torch.testing.assert_close(torch.stack(tops), y, atol=1e-12, rtol=0)
    for u, v in zip(stepper.state(), s):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=0)


def test_step_ids_reads_the_embedding_table(cell_spec):
    """Layer 1's input projection gathered from W_x Eᵀ + b equals embedding then projection."""
    cls, options = cell_spec
    layer = LAYER_CLASS[cls](4, 5, num_layers=2, dtype=torch.float64, **options)
    embedding = torch.nn.Embedding(7, 4, dtype=torch.float64)
    ids = torch.randint(7, (5, 3))
    with torch.no_grad():
        stepper = Stepper(layer, None, batch_size=3, dtype=torch.float64, embedding=embedding)
        tops = [stepper.step_ids(ids[t]).clone() for t in range(2)]
        embedding.weight.add_(0.5)                                  # the table notices the change
        tops += [stepper.step_ids(ids[t]).clone() for t in range(2, 5)]
        y_early, s = layer(embedding.weight.sub(0.5)[ids[:2]])
        y_late, s = layer(embedding(ids[2:]), s)
    torch.testing.assert_close(torch.stack(tops), torch.cat([y_early, y_late]), atol=1e-12, rtol=0)
    for u, v in zip(stepper.state(), s):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_generate_samples_like_the_reference_engine(cell):
    """Same seed, same tokens: the fast stepping path draws from the same distribution."""
    lm = LanguageModel(11, 8, num_layers=2, cell=cell, embedding_size=6).double()
    prime = torch.tensor([[1, 2, 3], [4, 5, 6]])
    fast = lm.generate(prime, 20, generator=torch.Generator().manual_seed(1))
    lm.rnn.engine = "reference"
    slow = lm.generate(prime, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fast, slow)


@pytest.fixture(params=["compiled", "oneDNN"])
def one_row_kernels(request, monkeypatch):
    """Each batch-1 GEMV path in turn: the compiled kernels (where built), then oneDNN's linear."""
    if request.param == "oneDNN":
        monkeypatch.setenv("RNNKIT_NATIVE", "0")
    elif not native.available():
        pytest.skip(f"no compiled kernels: {native.reason()}")
    native.reset()
    yield request.param
    native.reset()


def test_batch_one_float32_steps_equal_forward(one_row_kernels):
    """At B = 1 in float32 the LSTM's steps and the output layer run through the compiled kernels or
    oneDNN's linear: the same function as the forward pass, to float32 rounding."""
    torch.manual_seed(0)
    lm = LanguageModel(13, 64, num_layers=2, embedding_size=16).eval()
    ids = torch.randint(13, (1, 40))
    stepper = Stepper(lm.rnn, None, 1, embedding=lm.embedding)
    if one_row_kernels == "compiled" or torch.backends.mkldnn.is_available():
        assert kernels_base.one_row_gemv(step_module.cached_weights(lm.rnn.cells[1]).W)
    with torch.no_grad():
        W, b = lm.head.W_ya, lm.head.b_y
        head = (lambda a: kernels_base.one_row_linear(a, W, b)) if kernels_base.one_row_gemv(W) else lm.head
        stepped = torch.stack([head(stepper.step_ids(ids[:, t])) for t in range(40)], 1)
        logits, (a, c) = lm(ids)
    torch.testing.assert_close(stepped, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stepper.state()[1], c, atol=1e-5, rtol=1e-5)


def test_one_row_linear_equals_a_matrix_product(one_row_kernels):
    if not kernels_base.one_row_gemv(torch.ones(3, 4)):
        pytest.skip("this torch has no oneDNN linear")
    W, x, b = torch.randn(300, 70), torch.randn(1, 70), torch.randn(300)
    torch.testing.assert_close(kernels_base.one_row_linear(x, W, b), x @ W.t() + b, atol=1e-5, rtol=1e-5)
    assert not kernels_base.one_row_gemv(W.double()) and not kernels_base.one_row_gemv(W.t())


def test_step_with_grad_keeps_the_graph():
    layer = rnnkit.GRU(3, 5)
    a, _ = layer.step(torch.randn(2, 3))
    a.sum().backward()
    assert layer.cells[0].W_c.grad is not None and layer.cells[0].W_c.grad.abs().sum() > 0


def test_huge_page_buffer_is_aligned_writable_and_plain_when_small():
    big = step_module.huge_page_empty((1024, 1030))                # > 2 MB, not a multiple of a page
    assert big.shape == (1024, 1030) and big.dtype == torch.float32 and big.is_contiguous()
    if hasattr(step_module.mmap, "MADV_HUGEPAGE"):
        assert big.data_ptr() % step_module.HUGE_PAGE == 0
    source = torch.randn(1024, 1030)
    big.copy_(source)
    assert torch.equal(big, source)
    small = step_module.huge_page_empty((3, 4), torch.float64)     # under 2 MB: a plain tensor
    assert small.shape == (3, 4) and small.dtype == torch.float64
    del big                                                        # the mapping goes with its last tensor


def test_stepping_weights_live_on_huge_pages():
    lm = LanguageModel(11, 512, num_layers=2)                      # layer 2's [W_x | W_h] is 8 MB
    weights = step_module.cached_weights(lm.rnn.cells[1])
    if hasattr(step_module.mmap, "MADV_HUGEPAGE"):
        assert weights.W.data_ptr() % step_module.HUGE_PAGE == 0
        assert weights.W_h_alone.data_ptr() % step_module.HUGE_PAGE == 0
    torch.testing.assert_close(weights.W_h_alone, weights.W_h, rtol=0, atol=0)


# The output layer's draw (moved here from generation.py: the engine owns how the logits are computed).

@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_drawing_from_an_output_layer_follows_its_softmax(temperature):
    g = torch.Generator().manual_seed(8)
    W, b, a = torch.randn(6, 4, generator=g), torch.randn(6, generator=g), torch.randn(1, 4, generator=g)
    draw = step_module.OutputDraw(W, b, Sampler(temperature, generator=torch.Generator().manual_seed(1)))
    n = 20_000
    tokens = torch.cat([draw(a) for _ in range(n)])
    p = torch.softmax((a @ W.t() + b).double()[0] / temperature, -1)
    counts = torch.bincount(tokens, minlength=6).double()
    assert stats.chisquare(counts, n * p).pvalue > 1e-3, (counts / n, p)


def test_drawing_from_an_output_layer_sees_an_updated_bias_at_once():
    W, b, a = torch.zeros(5, 3), torch.zeros(5), torch.ones(1, 3)
    draw = step_module.OutputDraw(W, b, Sampler(generator=torch.Generator().manual_seed(0)))
    draw(a)                                            # noise for the coming steps is drawn with this b
    b[3] = 100.0                                       # e.g. an optimizer step between two steps
    assert [int(draw(a)) for _ in range(5)] == [3] * 5


@pytest.mark.parametrize("options, support", [(dict(temperature=0.0), {2}), (dict(temperature=1.0, top_k=2), {2, 0}),
                                              (dict(temperature=1.0, top_p=0.5), {2})])
def test_drawing_from_an_output_layer_with_filters_keeps_their_support(options, support):
    """Logits a Wᵀ + b = [1, −1, 3, 0, −2] (W = I, a = 0, b as given): supports known by hand."""
    W, a = torch.eye(5, 5), torch.zeros(1, 5)
    b = torch.tensor([1.0, -1.0, 3.0, 0.0, -2.0])
    draw = step_module.OutputDraw(W, b, Sampler(generator=torch.Generator().manual_seed(2), **options))
    torch.testing.assert_close(draw.logits(a), b.unsqueeze(0))
    assert {int(draw(a)) for _ in range(300)} == support


def test_generation_does_not_reach_into_the_engine():
    """generation.py chooses tokens: no kernel internals, no tensor versions."""
    source = Path(generation.__file__).read_text()
    assert "engine.kernels" not in source and "_version" not in source and "native" not in source


# Products through a StepMatrix: float32 at B > 1 (oneDNN on rows), and reduced-precision weights (the GEMVs
# read bfloat16 or int8 copies, everything else stays float32).

@pytest.mark.parametrize("weights, tol", [("float32", 1e-5), ("bf16", 2e-2), ("int8", 5e-2)])
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "rnn", "peephole-lstm"])
def test_reduced_weights_step_close_to_float32(weights, tol, B, cell):
    name, options = ("lstm", {"peephole": True}) if cell == "peephole-lstm" else (cell, {})
    torch.manual_seed(0)
    lm = LanguageModel(13, 32, num_layers=2, cell=name, embedding_size=8, cell_options=options).eval()
    ids = torch.randint(13, (B, 30))
    with torch.no_grad():
        logits, state = lm(ids)
        stepper = Stepper(lm.rnn, None, B, embedding=lm.embedding, weights=weights)
        stepped = torch.stack([lm.head(stepper.step_ids(ids[:, t])) for t in range(30)], 1)
        one_hot = LanguageModel(13, 32, num_layers=1, cell=name, one_hot=True, cell_options=options).eval()
        plain = Stepper(one_hot.rnn, None, B, weights=weights)
        a = torch.stack([plain.step(one_hot.embed(ids[:, t])).clone() for t in range(30)], 1)
        a_ref, _ = one_hot.rnn(one_hot.embed(ids))
    assert stepped.dtype == torch.float32 and stepper.state()[0].dtype == torch.float32
    torch.testing.assert_close(stepped, logits, atol=tol, rtol=0)
    torch.testing.assert_close(stepper.state()[0], state[0], atol=tol, rtol=0)
    torch.testing.assert_close(a, a_ref, atol=tol, rtol=0)
    if weights != "float32":
        assert (stepped - logits).abs().max() > 0                      # the reduced copy is what ran
    elif B > 1 and torch.backends.mkldnn.is_available():              # float32 at B > 1: oneDNN on rows
        assert step_module.rows_gemm(step_module.cached_weights(lm.rnn.cells[1]), B)


@pytest.mark.skipif(not native.available(), reason="no compiled kernels here")
def test_compiled_bf16_step_is_exact_on_weights_bfloat16_holds():
    """At batch 1 a plain LSTM steps from bfloat16 weights in one compiled call: on a model whose weights are
    already bfloat16 values, it must equal float32 stepping to float32 rounding (only the weights' storage
    differs), and the compiled call is what ran."""
    torch.manual_seed(2)
    lm = LanguageModel(11, 48, num_layers=2, embedding_size=8).eval()
    with torch.no_grad():
        for p in lm.parameters():
            p.copy_(p.bfloat16().float())                          # every weight exactly a bfloat16
        ids = torch.randint(11, (1, 25))
        runs = {}
        for weights in ("float32", "bf16"):
            stepper = Stepper(lm.rnn, None, 1, embedding=lm.embedding, weights=weights)
            runs[weights] = torch.stack([stepper.step_ids(ids[:, t]).clone() for t in range(25)], 1)
            if weights == "bf16":
                assert all(getattr(step, "compiled", False) for _, step in stepper.plans)
    torch.testing.assert_close(runs["bf16"], runs["float32"], atol=1e-5, rtol=0)


def test_reduced_weights_notice_parameter_updates():
    torch.manual_seed(1)
    lm = LanguageModel(7, 16, num_layers=2).eval()
    ids = torch.randint(7, (1, 10))
    with torch.no_grad():
        stepper = Stepper(lm.rnn, None, 1, embedding=lm.embedding, weights="bf16")
        stepper.step_ids(ids[:, 0])
        for p in lm.rnn.parameters():                                # e.g. an optimizer step mid-stream
            p.mul_(1.5)
        first = stepper.state()                                      # after step 0, from the old weights
        stepped = torch.stack([stepper.step_ids(ids[:, t]).clone() for t in range(1, 10)], 1)
        expected, _ = lm.rnn(lm.embed(ids[:, 1:]), first)
    torch.testing.assert_close(stepped, expected, atol=2e-2, rtol=0)


@pytest.mark.parametrize("build, message", [
    (lambda: (LanguageModel(5, 8, cell="gru").eval(), "bf16"), "LSTM and RNN cells"),
    (lambda: (LanguageModel(5, 8).eval(), "fp16"), "weights must be one of"),
    (lambda: (LanguageModel(5, 8).double().eval(), "int8"), "float32 model"),
])
def test_reduced_weights_refuse_what_they_cannot_run(build, message):
    lm, weights = build()
    with torch.no_grad(), pytest.raises(ValueError, match=message):
        Stepper(lm.rnn, None, 1, embedding=lm.embedding, weights=weights)


def test_reduced_weights_refuse_autograd():
    lm = LanguageModel(5, 8)
    with pytest.raises(ValueError, match="without autograd"):
        Stepper(lm.rnn, None, 1, embedding=lm.embedding, weights="bf16")


def test_state_is_a_copy_that_later_steps_leave_alone():
    lm = LanguageModel(7, 16).eval()
    with torch.no_grad():
        stepper = Stepper(lm.rnn, None, 1, embedding=lm.embedding)
        stepper.step_ids(torch.tensor([1]))
        state = stepper.state()
        kept = [s.clone() for s in state]
        stepper.step_ids(torch.tensor([2]))
    assert all(torch.equal(s, k) for s, k in zip(state, kept))
