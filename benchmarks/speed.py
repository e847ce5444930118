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
from functools import partial
from pathlib import Path
from unittest import mock

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import cpu_model  # noqa: E402

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


# Length spreads of the padded tasks, drawn once with a fixed seed: name -> (B, lengths from a generator).
# Text classification: sentences of SST-2's spread (mean about 19 words, 3–52); tagging: CoNLL-2003's
# (most sentences short, a long tail up to 80 tokens); speech: utterances of 250–750 frames after the
# recognizer's 2× frame subsampling, at a smaller batch.
SPREADS = {
    "text": (32, lambda g: torch.normal(19.0, 9.0, (32,), generator=g).round().clamp(3, 52)),
    "tagging": (32, lambda g: torch.empty(32).log_normal_(2.45, 0.6, generator=g).round().clamp(1, 80)),
    "speech": (8, lambda g: torch.randint(250, 751, (8,), generator=g).float()),
}


def padded_lengths(spread: str) -> torch.Tensor:
    B, draw = SPREADS[spread]
    return draw(torch.Generator().manual_seed(0)).long()


def packed_pair(kind: str, H: int, X: int, spread: str, versus: str = "torch"):
    """A bidirectional layer over padded sequences (``lengths`` of the spread): rnnkit's engine against torch.nn
    on a PackedSequence (``versus="torch"``) or against the hand-written loop over the same padding
    (``versus="loop"``: the compiled time loops switched off, as the engine ran padded batches before)."""
    lengths = padded_lengths(spread)
    B, T = lengths.numel(), int(lengths.max())
    ours = getattr(rnnkit, kind)(X, H, bidirectional=True)
    x = lambda: (torch.randn(T, B, X),)
    lengths_on = lengths.to(DEVICE)
    mine = training_step(ours, lambda x: ours(x, lengths=lengths_on)[0], x)
    if versus == "loop":
        loop_layer = getattr(rnnkit, kind)(X, H, bidirectional=True)
        step = training_step(loop_layer, lambda x: loop_layer(x, lengths=lengths_on)[0], x)
        return mine, hand_written(loop_layer, step)
    theirs = getattr(nn, kind)(X, H, bidirectional=True)

    def torch_packed(x):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        return nn.utils.rnn.pad_packed_sequence(theirs(packed)[0], total_length=T)[0]
    return mine, training_step(theirs, torch_packed, x)


def hand_written(layer, step):
    """``step`` with the compiled time loops of ``layer``'s kernel switched off (its weight gradients stay
    compiled): the hand-written loop, one torch op per equation and step."""
    from rnnkit.engine.layout import kernel_class

    def run():
        with mock.patch.object(kernel_class(layer.cells[0]), "compiled_loops", False):
            step()
    return run


def padded_tokens(spread: str) -> int:
    """Real (unpadded) tokens of one batch of the spread: tokens/s counts only those."""
    return int(padded_lengths(spread).sum())


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


def plain_lstm_loop(lm: LanguageModel, prime: torch.Tensor, tokens: int):
    """The best plain-torch sampling loop a careful user would write for ``lm`` (an LSTM LanguageModel):
    weights fused once, per layer ``W = [W_x | W_h]ᵀ`` (X + H, 4H) and ``b``; per token and layer one
    ``torch.addmm`` of ``[x; a]`` against it, the gates by slicing, no module calls; the output layer as one
    ``addmm`` and ``torch.multinomial`` of its softmax. Same model, same equations as rnnkit's stepper."""
    from rnnkit.engine.layout import fuse

    with torch.no_grad():
        layers = []
        for cell in lm.rnn.cells:
            W_h, W_x, b, _ = fuse(cell)                       # rows in rnnkit's (u, f, o, c) order
            layers.append((torch.cat([W_x, W_h], 1).t().contiguous(), b.detach().unsqueeze(0).clone()))
        E = lm.embedding.weight.detach().clone()
        W_y, b_y = lm.head.W_ya.detach().t().contiguous(), lm.head.b_y.detach().unsqueeze(0).clone()
    H = lm.config.hidden_size

    @torch.no_grad()
    def run():
        token = prime
        a = [torch.zeros(1, H, device=DEVICE) for _ in layers]
        c = [torch.zeros(1, H, device=DEVICE) for _ in layers]
        for _ in range(tokens):
            x = E[token]                                       # (1, X)
            for l, (W, b) in enumerate(layers):
                z = torch.addmm(b, torch.cat([x, a[l]], 1), W)  # (1, 4H) = [x, a] [W_x | W_h]ᵀ + b
                s = torch.sigmoid(z[:, :3 * H])                # Γu, Γf, Γo
                c[l] = s[:, H:2 * H] * c[l] + s[:, :H] * torch.tanh(z[:, 3 * H:])
                a[l] = x = s[:, 2 * H:] * torch.tanh(c[l])
            logits = torch.addmm(b_y, x, W_y)
            token = torch.multinomial(torch.softmax(logits, -1), 1)[0]
    return run


def plain_loop_pair(V: int, H: int, L: int, tokens: int):
    """rnnkit's LanguageModel.generate against :func:`plain_lstm_loop` on the same model."""
    lm = LanguageModel(V, H, num_layers=L).eval().to(DEVICE)
    prime = torch.tensor([1], device=DEVICE)
    return (lambda: lm.generate(prime, tokens)), plain_lstm_loop(lm, prime, tokens)


def weight_bytes_per_token(V: int, H: int, L: int) -> int:
    """Bytes of float32 weights a batch-1 step of an LSTM LanguageModel (embedding size H) must read: every
    layer's recurrent W_h (4H, H), the input weights W_x (4H, H) and bias of the layers above the first
    (layer 1's input projection of an id is one precomputed row of 4H values), and the output layer."""
    G = 4
    return 4 * (G * H * H + G * H + (L - 1) * (G * H * 2 * H + G * H) + V * H + V)


def copy_at_bandwidth(nbytes: int, buffer_bytes: int):
    """A closure that moves ``nbytes`` through memory (read + write) by ``Tensor.copy_`` of a buffer of
    ``buffer_bytes``: 256 MiB is far beyond the L3 cache (DRAM bandwidth); a few MiB stays inside it."""
    src = torch.ones(buffer_bytes // 4, device=DEVICE)
    dst = torch.empty_like(src)
    full, rest = divmod(nbytes // 2, src.nbytes)               # a copy moves 2 × its size
    tail_src, tail_dst = src[:rest // 4], dst[:rest // 4]

    def run():
        for _ in range(full):
            dst.copy_(src)
        tail_dst.copy_(tail_src)
    return run


def bandwidth_pair(V: int, H: int, L: int, tokens: int, buffer_bytes: int):
    """rnnkit's generation against the time a copy takes to move the weight bytes of ``tokens`` steps: the
    ratio is rnnkit's tokens/s over the bandwidth bound (bytes per token ÷ measured copy bandwidth)."""
    lm = LanguageModel(V, H, num_layers=L).eval().to(DEVICE)
    prime = torch.tensor([1], device=DEVICE)
    return (lambda: lm.generate(prime, tokens)), copy_at_bandwidth(weight_bytes_per_token(V, H, L) * tokens,
                                                                   buffer_bytes)


def weights_pair(V: int, H: int, L: int, tokens: int, weights: str, B: int = 1):
    """Generation from ``weights`` (bf16, int8) against float32, same model and batch. The change in
    validation loss is measured on a trained run: ``rnnkit lm eval RUN --data FILE --weights bf16``."""
    lm = LanguageModel(V, H, num_layers=L).eval().to(DEVICE)
    prime = torch.ones(B, 1, dtype=torch.long, device=DEVICE)
    return (lambda: lm.generate(prime, tokens, weights=weights)), (lambda: lm.generate(prime, tokens))


def batch_sampling_pair(V: int, H: int, L: int, tokens: int, num: int, weights: str = "float32"):
    """``rnnkit lm sample --num N``: the N samples as one batch of N rows (from ``weights``), against N
    float32 single samples one after another (as the command drew them before); both give N · tokens ids."""
    lm = LanguageModel(V, H, num_layers=L).eval().to(DEVICE)
    prime = torch.tensor([1], device=DEVICE)
    batch = prime.expand(num, 1)

    def singles():
        for _ in range(num):
            lm.generate(prime, tokens)
    return (lambda: lm.generate(batch, tokens, weights=weights)), singles


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


# Padded rows at the sizes of the tasks' defaults (classify and tag: hidden 128 over word embeddings, tag's
# with its character features; speech: hidden 256 over stacked filterbank frames): each spread against
# torch.nn's packed sequences and against the hand-written loop.
PADDED = {
    f"bi-{kind.lower()} {spread}{suffix}": (
        Row(f"bidirectional {kind} 1×{H}, X={X}, B={SPREADS[spread][0]}, {spread} lengths", target, versus),
        partial(packed_pair, kind, H, X, spread, side), padded_tokens(spread))
    for kind in ("LSTM", "GRU") for spread, H, X in (("text", 128, 300), ("tagging", 128, 150), ("speech", 256, 80))
    for suffix, target, versus, side in (("", 2.0, f"torch.nn.{kind}, PackedSequence", "torch"),
                                         (" loop", 1.5, "its hand-written loop", "loop"))
}

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
    **PADDED,
    "generation": (Row("generation, LanguageModel LSTM 2×512, batch 1", 10.0, "torch.nn.LSTM per token"),
                   lambda: generation_pair(65, 512, 2, 200), 200),
    # Not one of the engine's targets: shows the compiled GRU step against torch's own per-token GRU (which,
    # unlike its LSTM, runs no oneDNN set-up per call), so its bar is only "faster".
    "generation gru": (Row("extra: generation, LanguageModel GRU 2×512, batch 1", 1.0, "torch.nn.GRU per token"),
                       lambda: generation_pair(65, 512, 2, 200, "gru"), 200),
    # The honest anchors for batch-1 generation: the best plain-torch loop on the same model, and the bound
    # set by memory bandwidth (the weights of a 2×512 LSTM, 12.6 MiB, fit in a 32 MiB L3, so the second,
    # cache-resident copy is the tighter bound where they do).
    "generation plain loop": (Row("generation, LSTM 2×512, batch 1, float32", 1.3,
                                  "plain torch loop (fused addmm)"),
                              lambda: plain_loop_pair(65, 512, 2, 200), 200),
    "generation bandwidth": (Row("generation, LSTM 2×512, batch 1 (ratio: of the bound)", 0.7,
                                 f"{weight_bytes_per_token(65, 512, 2) / 2**20:.1f} MiB/token ÷ DRAM copy bandwidth"),
                             lambda: bandwidth_pair(65, 512, 2, 200, 256 << 20), 200),
    "generation bandwidth cache": (Row("extra: generation, LSTM 2×512, batch 1 (ratio: of the bound)", 0.7,
                                       "the same ÷ in-cache copy bandwidth (4 MiB)"),
                                   lambda: bandwidth_pair(65, 512, 2, 200, 4 << 20), 200),
    "generation bf16": (Row("generation, LSTM 2×512, batch 1, --weights bf16", 1.6, "float32 weights"),
                        lambda: weights_pair(65, 512, 2, 200, "bf16"), 200),
    "generation int8": (Row("extra: generation, LSTM 2×512, batch 1, --weights int8", 1.6, "float32 weights"),
                        lambda: weights_pair(65, 512, 2, 200, "int8"), 200),
    "generation bf16 batch 16": (Row("extra: generation, LSTM 2×512, batch 16, --weights bf16", 1.6,
                                     "float32 weights"),
                                 lambda: weights_pair(65, 512, 2, 100, "bf16", 16), 1600),
    "generation num 16": (Row("lm sample --num 16: LSTM 2×512, one batch of 16", 8.0, "16 single samples"),
                          lambda: batch_sampling_pair(65, 512, 2, 100, 16), 1600),
    "generation num 16 int8": (Row("extra: lm sample --num 16 --weights int8, one batch of 16", 8.0,
                                   "16 float32 single samples"),
                               lambda: batch_sampling_pair(65, 512, 2, 100, 16, "int8"), 1600),
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
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, {where}; {reps} interleaved repetitions, medians")
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
