"""Shared by the benchmarks: what machine the numbers come from."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo) and the vector extensions the engine's speed depends on,
    printed with every table: machines of one model name differ (AVX2 only, or AVX-512 with bfloat16)."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"),
                                       ("amx_tile", "AMX")) if flag in flags]
    return f"{name} ({', '.join(shown)})" if shown else name
