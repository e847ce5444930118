"""Training precision (``--precision``): ``fp32`` (the default) or ``bf16`` mixed precision.

With ``bf16`` each training step's forward pass and loss run under ``torch.autocast(dtype=torch.bfloat16)``:
the matrix products (embeddings' projections, output layers, attention) and torch's fused LSTM kernel
(oneDNN on the CPU, cuDNN on CUDA) compute in bfloat16, the losses in float32. What persists stays float32:
the parameters (the master weights), their gradients, the optimizer state, a carried state between batches,
and so every checkpoint. bfloat16 has float32's exponent range, so no loss scaling is needed.

rnnkit's own engine computes in float32 only (:func:`rnnkit.engine.dispatch.run_direction` turns autocast off
for it): a recurrent layer that runs on the compiled loops or the hand-written BPTT (every GRU and RNN,
small or padded LSTMs) gains nothing from ``bf16`` but its input and output layers' speed.

Evaluation runs in float32, as ``rnnkit TASK eval`` later does on the saved weights, so the validation metric
that picks the best checkpoint is the one that checkpoint has.

Hardware: bfloat16 instructions on the CPU (x86 AVX512-BF16 or AMX-BF16; ARM BF16), or a CUDA GPU that
supports bfloat16 (compute capability 8.0 and newer). Elsewhere bfloat16 would be emulated, slower than
float32, and :func:`check_precision` refuses it.

Example::

    check_precision("bf16", torch.device("cpu"))          # RnnkitError where the CPU lacks bfloat16
    with autocast("bf16", torch.device("cpu")):
        loss = objective.train_loss(model, batch, None)[0]  # float32 loss, bfloat16 matmuls
"""

from __future__ import annotations

import contextlib
import functools
import platform

import torch

from rnnkit.errors import RnnkitError
from rnnkit.training.config import PRECISIONS

__all__ = ["PRECISIONS", "autocast", "check_precision", "cpu_has_bf16", "cpu_model"]
# /proc/cpuinfo flags that name bfloat16 instructions: x86 (AVX512-BF16, AMX-BF16), aarch64 (BF16).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else what :mod:`platform` says)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_bf16() -> bool:
    """Whether the CPU has bfloat16 instructions (a flag of :data:`BF16_CPU_FLAGS` in ``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo") as f:
            words = {w for line in f if line.startswith(("flags", "Features")) for w in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return any(flag in words for flag in BF16_CPU_FLAGS)


def check_precision(precision: str, device: torch.device) -> None:
    """Raise :class:`RnnkitError` unless ``device`` can train in ``precision`` (see module doc)."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise RnnkitError(f"unknown --precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise RnnkitError(f"--precision bf16: this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 "
                              "arithmetic (it needs compute capability 8.0 or newer); train with --precision fp32")
        return
    if device.type != "cpu":
        raise RnnkitError(f"--precision bf16 runs on the CPU or CUDA, not on {device.type}; use --precision fp32")
    if not cpu_has_bf16():
        raise RnnkitError(f"--precision bf16: this CPU ({cpu_model()}) has no bfloat16 instructions (AVX512-BF16 "
                          "or AMX-BF16; BF16 on ARM), so bfloat16 would be emulated, slower than float32; train "
                          "with --precision fp32 (the default), or on a GPU with --device cuda")


def autocast(precision: str, device: torch.device):
    """The context a training step's forward pass and loss run in: bfloat16 autocast for ``bf16``, nothing
    for ``fp32``."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
