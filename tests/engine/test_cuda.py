"""The engine on a CUDA GPU: the same checks as on the CPU, plus GPU against CPU.

Skipped on machines without CUDA (CI has none); run with ``python -m pytest tests/engine/test_cuda.py`` on
a machine with a GPU.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import rnnkit
from rnnkit.engine import Stepper
from rnnkit.models import LanguageModel
from tests.conftest import LAYER_CLASS
from tests.engine.test_bptt import SHAPES, assert_close, run_both

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 would round float32 products to 10-bit mantissas; the comparisons below are of the exact maths."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("num_layers,bidirectional,lengths,carry", SHAPES)
def test_engine_equals_reference_on_cuda_float64(cell_spec, num_layers, bidirectional, lengths, carry):
    assert_close(run_both(cell_spec, torch.float64, num_layers, bidirectional, lengths, carry, device="cuda"),
                 atol=1e-10)


def test_engine_equals_reference_on_cuda_float32(cell_spec):
    # cuDNN (the plain LSTM) sums the weight gradients over T·B in its own order: float32 round-off is
    # relative to their size, hence rtol; the float64 test above holds every path to 1e-10.
    assert_close(run_both(cell_spec, torch.float32, 2, True, True, True, device="cuda"), atol=1e-5, rtol=1e-5)
    assert_close(run_both(cell_spec, torch.float32, 2, False, False, True, device="cuda"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("lengths", [False, True])
def test_cuda_equals_cpu(cell_spec, lengths):
    """The same layer on both devices: outputs, final states and parameter gradients agree (float64)."""
    cls, options = cell_spec
    cpu = LAYER_CLASS[cls](3, 5, num_layers=2, bidirectional=True, dtype=torch.float64, **options)
    gpu = LAYER_CLASS[cls](3, 5, num_layers=2, bidirectional=True, dtype=torch.float64, **options).cuda()
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    n = torch.tensor([7, 3, 5, 1]) if lengths else None
    results = []
    for layer, device in ((cpu, "cpu"), (gpu, "cuda")):
        y, state = layer(x.to(device), lengths=None if n is None else n.to(device))
        loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=device).view_as(y)).sum()
        grads = torch.autograd.grad(loss + sum((s * s).sum() for s in state), list(layer.parameters()))
        results.append([t.cpu() for t in (y, *state, *grads)])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_plain_lstm_on_cudnn_warns_nothing():
    """The plain LSTM lends its weights to cuDNN, whose complaint about weights outside one flat buffer (the
    engine lays them out per call on purpose) must not reach the user."""
    layer = rnnkit.LSTM(8, 16, num_layers=2).cuda()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, _ = layer(torch.randn(5, 3, 8, device="cuda"))
        y.sum().backward()
    assert layer.cells[0].W_u.grad is not None and bool(torch.isfinite(layer.cells[0].W_u.grad).all())


def test_stepper_on_cuda_equals_forward(cell_spec):
    cls, options = cell_spec
    layer = LAYER_CLASS[cls](3, 5, num_layers=2, dtype=torch.float64, **options).cuda()
    x = torch.randn(6, 2, 3, dtype=torch.float64, device="cuda")
    with torch.no_grad():
        stepper = Stepper(layer, None, batch_size=2, device=x.device, dtype=x.dtype)
        assert stepper.fast
        tops = torch.stack([stepper.step(x[t]).clone() for t in range(6)])
        y, _ = layer(x)
    torch.testing.assert_close(tops, y, atol=1e-12, rtol=0)


def test_greedy_generation_on_cuda_equals_cpu():
    torch.manual_seed(0)
    cpu = LanguageModel(11, 16, num_layers=2).double()
    gpu = LanguageModel(11, 16, num_layers=2).double().cuda()
    gpu.load_state_dict(cpu.state_dict())
    prime = torch.tensor([1, 2, 3])
    a = cpu.generate(prime, 30, temperature=0)
    b = gpu.generate(prime.cuda(), 30, temperature=0)
    assert torch.equal(a, b.cpu())


def test_run_trained_on_cuda_samples_on_cpu(tmp_path, capsys):
    from rnnkit.cli.main import main
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["lm", "train", "--data", str(corpus), "--out", str(run), "--device", "cuda", "--steps", "30",
                 "--hidden", "32", "--layers", "2", "--batch-size", "8", "--seq-len", "32", "--eval-every", "15",
                 "--quiet", "--sample-length", "0"]) == 0
    capsys.readouterr()
    assert main(["lm", "sample", str(run), "--length", "40", "--seed", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip()) >= 20
