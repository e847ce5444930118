"""Training and generation speed of rnnkit's engine against torch.nn, measured in the same run.

    python benchmarks/speed.py                 # every row (a few minutes on a 2-core CPU)
    python benchmarks/speed.py --quick         # fewer repetitions
    python benchmarks/speed.py --only gru      # rows whose name contains "gru"
    python benchmarks/speed.py --device cuda   # on a GPU (peak memory from the CUDA allocator)

A training step is forward + backward + Adam on random data (loss: mean of the outputs squared). The two
sides alternate repetition by repetition (rnnkit, torch, rnnkit, torch, …) after a warm-up, and each side's
median time is taken, so a machine busy with something else slows both alike; the ratio is torch's median
time over rnnkit's (> 1 means rnnkit is faster). tokens/s = T·B / median step time.

Peak memory: each side runs alone in a fresh subprocess; after building the model, optimizer and data the
resident set size (RSS) is read, then three training steps run, and the reported number is the peak RSS
(``ru_maxrss``) minus that baseline: activations, saved buffers, gradients, Adam state and kernel
workspace, everything a training step adds, and nothing of the interpreter or torch itself.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import rnnkit  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402


@dataclass
class Row:
    name: str
    target: float           # the ratio to reach (for memory: the largest allowed ratio)
    versus: str              # what the ratio is against


DEVICE = torch.device("cpu")   # --device


def training_step(module, forward, make_inputs):
    """A closure running ``forward(*inputs)`` + backward + Adam on ``module``'s parameters once."""
    module.to(DEVICE)
    opt = torch.optim.Adam(module.parameters(), lr=1e-4)
    inputs = tuple(t.to(DEVICE) for t in make_inputs())

    def step():
        y = forward(*inputs)
        loss = y.pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def train_pair(kind: str, X: int, H: int, L: int, B: int, T: int, versus: str, **opts):
    """(rnnkit step, other step) for a training row; ``versus`` is "torch" or "reference"."""
    ours = getattr(rnnkit, kind)(X, H, num_layers=L, **opts)
    x = lambda: (torch.randn(T, B, X),)
    if versus == "reference":
        other = getattr(rnnkit, kind)(X, H, num_layers=L, engine="reference", **opts)
    else:
        other = getattr(nn, kind)(X, H, num_layers=L)
    return (training_step(ours, lambda x: ours(x)[0], x), training_step(other, lambda x: other(x)[0], x))


def packed_pair(H: int, X: int, B: int, T: int):
    """Bidirectional LSTM over padded sequences: rnnkit with ``lengths`` vs torch.nn on a PackedSequence."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(T // 4, T + 1, (B,), generator=g)
    lengths[0] = T
    lengths = lengths.to(DEVICE)
    ours = rnnkit.LSTM(X, H, bidirectional=True)
    theirs = nn.LSTM(X, H, bidirectional=True)

    def torch_packed(x):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        return nn.utils.rnn.pad_packed_sequence(theirs(packed)[0], total_length=T)[0]
    x = lambda: (torch.randn(T, B, X),)
    return (training_step(ours, lambda x: ours(x, lengths=lengths)[0], x), training_step(theirs, torch_packed, x))


def generation_pair(V: int, H: int, L: int, tokens: int, cell: str = "lstm"):
    """Sampling ``tokens`` ids one at a time: rnnkit's LanguageModel.generate vs torch.nn's layer (LSTM or GRU)
    called per token."""
    lm = LanguageModel(V, H, num_layers=L, cell=cell).eval().to(DEVICE)
    rnn = getattr(nn, cell.upper())(H, H, num_layers=L)
    emb, rnn, head = (m.to(DEVICE) for m in (nn.Embedding(V, H), rnn, nn.Linear(H, V)))
    prime = torch.tensor([1], device=DEVICE)

    @torch.no_grad()
    def torch_generate():
        token, state = prime, None
        for _ in range(tokens):
            y, state = rnn(emb(token).unsqueeze(0), state)
            token = torch.multinomial(torch.softmax(head(y[0]), -1), 1)[:, 0]

    return (lambda: lm.generate(prime, tokens)), torch_generate


def interleaved(ours, other, reps: int) -> tuple[float, float]:
    """Median seconds of each, alternating repetitions after one warm-up each."""
    ours(), other()
    a, b = [], []
    for _ in range(reps):
        for f, times in ((ours, a), (other, b)):
            start = time.perf_counter()
            f()
            if DEVICE.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


# name -> (row, builder of (ours, other), tokens per call)
CONFIGS = {
    "lstm 2x512": (Row("LSTM 2×512, X=128, B=64, T=100", 1.0, "torch.nn.LSTM"),
                   lambda: train_pair("LSTM", 128, 512, 2, 64, 100, "torch"), 6400),
    "lstm 2x128": (Row("LSTM 2×128, X=65, B=32, T=100", 1.0, "torch.nn.LSTM"),
                   lambda: train_pair("LSTM", 65, 128, 2, 32, 100, "torch"), 3200),
    "gru 2x128": (Row("GRU (reset before) 2×128, X=65, B=32, T=100", 1.5, "torch.nn.GRU"),
                  lambda: train_pair("GRU", 65, 128, 2, 32, 100, "torch"), 3200),
    "gru 2x512": (Row("GRU (reset before) 2×512, X=128, B=64, T=100", 1.0, "torch.nn.GRU"),
                  lambda: train_pair("GRU", 128, 512, 2, 64, 100, "torch"), 6400),
    "simple-gru 2x128": (Row("SimpleGRU 2×128, X=65, B=32, T=100", 2.0, "its reference path"),
                         lambda: train_pair("SimpleGRU", 65, 128, 2, 32, 100, "reference"), 3200),
    "peephole-lstm 2x128": (Row("peephole LSTM 2×128, X=65, B=32, T=100", 2.0, "its reference path"),
                            lambda: train_pair("LSTM", 65, 128, 2, 32, 100, "reference", peephole=True), 3200),
    "rnn 2x128": (Row("RNN (tanh) 2×128, X=65, B=32, T=100", 2.0, "its reference path"),
                  lambda: train_pair("RNN", 65, 128, 2, 32, 100, "reference"), 3200),
    "bi-lstm lengths": (Row("bidirectional LSTM 1×256, X=128, B=32, T=100, varied lengths", 1.0,
                            "torch.nn.LSTM, PackedSequence"), lambda: packed_pair(256, 128, 32, 100), 3200),
    "generation": (Row("generation, LanguageModel LSTM 2×512, batch 1", 10.0, "torch.nn.LSTM per token"),
                   lambda: generation_pair(65, 512, 2, 200), 200),
    # Not one of the engine's targets: shows the compiled GRU step against torch's own per-token GRU (which,
    # unlike its LSTM, runs no oneDNN set-up per call), so its bar is only "faster".
    "generation gru": (Row("extra: generation, LanguageModel GRU 2×512, batch 1", 1.0, "torch.nn.GRU per token"),
                       lambda: generation_pair(65, 512, 2, 200, "gru"), 200),
}


def memory_child(side: str) -> None:
    """Run in a fresh subprocess: peak RSS added by three training steps of LSTM 2×512 (one side)."""
    ours, theirs = train_pair("LSTM", 128, 512, 2, 64, 100, "torch")
    step = ours if side == "rnnkit" else theirs
    base = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    for _ in range(3):
        step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(peak - base)


def cuda_memory() -> tuple[float, float]:
    """Peak CUDA memory three training steps add above what model, optimizer and data hold (MiB)."""
    mib = []
    for step in train_pair("LSTM", 128, 512, 2, 64, 100, "torch"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        mib.append((torch.cuda.max_memory_allocated() - base) / 2**20)
    return mib[0], mib[1]


def measure_memory() -> tuple[float, float]:
    if DEVICE.type == "cuda":
        return cuda_memory()
    mib = {}
    for side in ("rnnkit", "torch"):
        out = subprocess.run([sys.executable, __file__, "--memory-child", side], capture_output=True, text=True,
                             check=True)
        mib[side] = float(out.stdout.strip().splitlines()[-1])
    return mib["rnnkit"], mib["torch"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[],
                        help="run only rows whose key contains this text (repeatable); keys: "
                             + ", ".join([*CONFIGS, "memory"]))
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 7")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per side (default 7, --quick 3)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--memory-child", choices=("rnnkit", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    reps = args.reps or (3 if args.quick else 7)
    torch.manual_seed(0)
    selected = lambda key: not args.only or any(o in key for o in args.only)
    where = (torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda"
             else f"{torch.get_num_threads()} threads, mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"torch {torch.__version__}, {where}; {reps} interleaved repetitions, medians")
    header = (f"| {'configuration':<62} | {'rnnkit tok/s':>12} | {'other tok/s':>11} | {'ratio':>6} | target | vs "
              "| result |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    failures = 0
    for key, (row, build, tokens) in CONFIGS.items():
        if not selected(key):
            continue
        ours, other = build()
        t_ours, t_other = interleaved(ours, other, reps)
        ratio = t_other / t_ours
        ok = ratio >= row.target
        failures += not ok
        print(f"| {row.name:<62} | {tokens / t_ours:>12,.0f} | {tokens / t_other:>11,.0f} | {ratio:>5.2f}× | "
              f"≥ {row.target:g}× | {row.versus} | {'PASS' if ok else 'FAIL'} |", flush=True)
    if selected("memory"):
        ours_mib, torch_mib = measure_memory()
        ratio = ours_mib / torch_mib
        ok = ratio <= 1.2
        failures += not ok
        print(f"| {'peak memory of a training step, LSTM 2×512 (MiB above baseline)':<62} | {ours_mib:>12,.0f} | "
              f"{torch_mib:>11,.0f} | {ratio:>5.2f}× | ≤ 1.2× | torch.nn.LSTM | {'PASS' if ok else 'FAIL'} |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
