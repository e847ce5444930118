"""Training speed of rnnkit's Classifier against a plain PyTorch peer, measured in the same run.

    python benchmarks/classify_speed.py                      # hidden 128 and 256, 7 repetitions
    python benchmarks/classify_speed.py --hidden 128 --repeats 3
    python benchmarks/classify_speed.py --no-bucketing       # random batches: every batch padded
    python benchmarks/classify_speed.py --by-padding         # also rows for padded / unpadded batches alone
    python benchmarks/classify_speed.py --profile            # also: where rnnkit's step spends its time

The task is SST-2-like sentiment classification: token ids (vocabulary 16,000), sentence lengths from 5 to 55
tokens (log-normal around a median of 18, clipped, like the SST sentences), 2 classes, batches of 32. As
length bucketing does, the examples are sorted by length and cut into batches (each padded to its longest
sequence), and the batches are visited in a shuffled order; every side trains on the same batches.

- rnnkit: ``Classifier(2, hidden_size=H, vocab_size=V, embedding_size=128)`` (a bidirectional LSTM, ``last``
  pooling), ``model(ids, lengths)`` and ``model.loss``;
- peer: ``nn.Embedding`` → ``nn.LSTM(bidirectional=True)`` fed with ``pack_padded_sequence(...,
  enforce_sorted=False)`` → the final states ``[a→<T_x>, a←<1>]`` → ``nn.Linear``, ``F.cross_entropy``.

A training step is forward, loss, backward and an Adam step (rnnkit's side: the optimizer ``rnnkit classify
train`` builds, a multi-tensor Adam; the peer's: ``torch.optim.Adam`` as a plain script writes it). After a
warm-up, the two sides alternate (rnnkit, peer, rnnkit, …), each repetition running the same fixed list of
batches; the ratio of each pair of repetitions is taken (peer time / rnnkit time: > 1 means rnnkit is faster)
and the median reported, so a machine busy with something else slows both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import cpu_model  # noqa: E402

from rnnkit.models import Classifier  # noqa: E402
from rnnkit.training.config import TrainConfig  # noqa: E402
from rnnkit.training.optim import build_optimizer  # noqa: E402

VOCAB, EMBEDDING, CLASSES, BATCH = 16_000, 128, 2, 32
MIN_LEN, MAX_LEN, MEDIAN_LEN = 5, 55, 18


class TorchPeer(nn.Module):
    """The plain PyTorch bidirectional-LSTM classifier over a PackedSequence."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.lstm = nn.LSTM(embedding_size, hidden_size, bidirectional=True, batch_first=True)
        self.out = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, (a, _) = self.lstm(packed)                                       # a: (2, B, H)
        return self.out(torch.cat([a[-2], a[-1]], dim=1))                   # [a→<T_x>, a←<1>]


def make_batches(num_examples: int, bucketing: bool, seed: int) -> list[tuple[torch.Tensor, torch.Tensor,
                                                                              torch.Tensor]]:
    """(ids (B, T), lengths (B,), targets (B,)) batches of an SST-2-like data set, in a shuffled order."""
    g = torch.Generator().manual_seed(seed)
    lengths = (MEDIAN_LEN * torch.exp(0.55 * torch.randn(num_examples, generator=g))).round().long()
    lengths = lengths.clamp(MIN_LEN, MAX_LEN)
    order = torch.argsort(lengths, stable=True) if bucketing else torch.randperm(num_examples, generator=g)
    batches = []
    for start in range(0, num_examples - BATCH + 1, BATCH):
        n = lengths[order[start:start + BATCH]]
        ids = torch.randint(1, VOCAB, (BATCH, int(n.max())), generator=g)
        ids[torch.arange(ids.shape[1]).unsqueeze(0) >= n.unsqueeze(1)] = 0          # padding id 0
        batches.append((ids, n, torch.randint(CLASSES, (BATCH,), generator=g)))
    shuffled = torch.randperm(len(batches), generator=g).tolist()
    return [batches[i] for i in shuffled]


def trainer(model: nn.Module, loss_fn, optimizer=None):
    """A function training ``model`` with Adam (or ``optimizer``) on a list of batches, once each."""
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)

    def run(batches):
        for ids, lengths, targets in batches:
            loss = loss_fn(model(ids, lengths), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return run


def measure(hidden: int, batches: list, repeats: int) -> tuple[float, float, float]:
    """(rnnkit examples/s, peer examples/s, median ratio rnnkit speed / peer speed) over ``batches``."""
    torch.manual_seed(0)
    ours = Classifier(CLASSES, hidden_size=hidden, vocab_size=VOCAB, embedding_size=EMBEDDING, pooling="last")
    peer = TorchPeer(VOCAB, EMBEDDING, hidden, CLASSES)
    # rnnkit's side steps the optimizer its trainer builds (Adam, multi-tensor); the peer's is torch's default Adam
    ours_opt = build_optimizer(ours.parameters(), TrainConfig(lr=1e-3))
    sides = [trainer(ours.train(), ours.loss, ours_opt), trainer(peer.train(), F.cross_entropy)]
    for run in sides:                                                       # warm-up
        run(batches[:4])
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        for run, spent in zip(sides, times):
            start = time.perf_counter()
            run(batches)
            spent.append(time.perf_counter() - start)
    examples = len(batches) * BATCH
    ratio = statistics.median(peer / ours for ours, peer in zip(*times))
    return examples / statistics.median(times[0]), examples / statistics.median(times[1]), ratio


def profile(hidden: int, batches: list, rows: int = 25) -> None:
    """torch.profiler's table of rnnkit's training steps over ``batches`` (self CPU time)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.manual_seed(0)
    model = Classifier(CLASSES, hidden_size=hidden, vocab_size=VOCAB, embedding_size=EMBEDDING, pooling="last")
    run = trainer(model, model.loss)
    run(batches[:4])
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        run(batches)
    print(f"\nrnnkit, hidden {hidden}: the ops with the most self CPU time over {len(batches)} steps")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per side (default 7)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256], help="hidden sizes H, one row each "
                        "(default: 128 256)")
    parser.add_argument("--batches", type=int, default=40, help="training steps per repetition (default 40)")
    parser.add_argument("--examples", type=int, default=6920, help="size of the data set the batches are cut "
                        "from (default 6920, SST-2's training sentences); it sets how many batches are padded")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-bucketing", action="store_true", help="random batches instead of length buckets")
    parser.add_argument("--by-padding", action="store_true", help="also rows for the padded and the unpadded "
                        "batches alone (the two run on different paths of rnnkit's engine)")
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's table for rnnkit")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (default 0)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    all_batches = make_batches(args.examples, not args.no_bucketing, args.seed)
    batches = all_batches[:args.batches]
    padded = lambda bs: sum(int(n.min()) < ids.shape[1] for ids, n, _ in bs)
    mean_len = statistics.mean(float(n.float().mean()) for _, n, _ in batches)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    print(f"{len(batches)} batches of {BATCH} per repetition ({'random' if args.no_bucketing else 'length-bucketed'}"
          f", mean length {mean_len:.1f}, {padded(batches)} of them padded; {padded(all_batches)} of all "
          f"{len(all_batches)}), {args.repeats} alternating repetitions, median ratio")
    header = f"| {'model':<60} | {'rnnkit ex/s':>11} | {'torch ex/s':>10} | {'ratio':>6} |"
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    is_padded = lambda b: int(b[1].min()) < b[0].shape[1]
    for hidden in args.hidden:
        rows = [("", batches)]
        if args.by_padding:
            rows += [(", padded batches", [b for b in all_batches if is_padded(b)][:args.batches]),
                     (", unpadded batches", [b for b in all_batches if not is_padded(b)][:args.batches])]
        for what, some in rows:
            ours, peer, ratio = measure(hidden, some, args.repeats)
            name = f"bi-LSTM H={hidden}, embedding {EMBEDDING}, last pooling{what}"
            print(f"| {name:<60} | {ours:>11,.0f} | {peer:>10,.0f} | {ratio:>5.2f}× |", flush=True)
    if args.profile:
        for hidden in args.hidden:
            profile(hidden, batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
