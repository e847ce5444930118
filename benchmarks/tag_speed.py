"""Training speed of rnnkit's Tagger against a plain PyTorch peer of the same sizes, measured in the same run.

    python benchmarks/tag_speed.py                 # the tag train defaults: H = 128, batches of 16, 5 repetitions
    python benchmarks/tag_speed.py --hidden 100 --batch-size 32 --repeats 3

The task is WNUT-17-like tagging: sentences of 3 to 60 tokens (log-normal around a median of 18), a vocabulary
of 20,000 words of 1 to 24 letters (80 letters), 13 tags; the sentences are sorted by length and cut into
batches (as length bucketing does), visited in a shuffled order; both sides train on the same batches.

- rnnkit: ``Tagger`` as ``rnnkit tag train`` builds it: word embedding (100) and the letters' bidirectional
  LSTM (50 + 50) → bidirectional LSTM (H) → per-token scores, with lengths;
- peer: ``nn.Embedding``, an ``nn.LSTM(bidirectional=True)`` over the letters fed with
  ``pack_padded_sequence`` (final states), another over the words, packed too, ``nn.Linear``.

Two rows: the loss ``softmax`` (cross-entropy summed per sentence, both sides) and ``crf`` (both sides add the
same :class:`rnnkit.models.crf.CRF`, so the row measures the rest). A step is forward, loss, backward and an
Adam step; the sides alternate, and the median ratio of paired repetitions is reported (peer time / rnnkit
time: > 1 means rnnkit is faster).
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

from rnnkit.models import Tagger  # noqa: E402
from rnnkit.models.crf import CRF  # noqa: E402
from rnnkit.models.tagger import WordChars  # noqa: E402
from rnnkit.training.config import TrainConfig  # noqa: E402
from rnnkit.training.optim import build_optimizer  # noqa: E402

VOCAB, LETTERS, TAGS, EMBEDDING, CHAR_E, CHAR_H = 20_000, 80, 13, 100, 50, 50
TAG_NAMES = ["O"] + [f"{p}-T{k}" for k in range(3) for p in "BIES"]


class TorchPeer(nn.Module):
    """Word embedding + packed letters' LSTM + packed bidirectional LSTM + linear scores."""

    def __init__(self, hidden: int, crf: bool):
        super().__init__()
        self.words = nn.Embedding(VOCAB, EMBEDDING)
        self.letters = nn.Embedding(LETTERS, CHAR_E)
        self.char_lstm = nn.LSTM(CHAR_E, CHAR_H, bidirectional=True, batch_first=True)
        self.lstm = nn.LSTM(EMBEDDING + 2 * CHAR_H, hidden, bidirectional=True, batch_first=True)
        self.out = nn.Linear(2 * hidden, len(TAG_NAMES))
        self.crf = CRF(len(TAG_NAMES)) if crf else None

    def forward(self, ids, lengths, chars: WordChars, tags):
        packed = nn.utils.rnn.pack_padded_sequence(self.letters(chars.ids), chars.lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (a, _) = self.char_lstm(packed)
        r = torch.cat([a[0], a[1]], dim=1)[chars.rows]                          # (B, T, 2·H_c)
        w = torch.cat([self.words(ids), r], dim=2)
        packed = nn.utils.rnn.pack_padded_sequence(w, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        e = self.out(out)
        if self.crf is not None:
            return self.crf.nll(e, tags, lengths)
        mask = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        ce = F.cross_entropy(e.transpose(1, 2), tags, reduction="none")       # (B, T)
        return (ce * mask).sum(1)


def make_batches(n: int, batch: int, seed: int) -> list:
    g = torch.Generator().manual_seed(seed)
    word_len = torch.randint(1, 25, (VOCAB,), generator=g)
    lengths = (18 * torch.exp(0.6 * torch.randn(n, generator=g))).round().long().clamp(3, 60)
    order = torch.argsort(lengths, stable=True)
    batches = []
    for start in range(0, n - batch + 1, batch):
        L = lengths[order[start:start + batch]]
        T = int(L.max())
        ids = torch.randint(0, VOCAB, (batch, T), generator=g)
        distinct, rows = torch.unique(ids, return_inverse=True)
        n_letters = word_len[distinct]
        letters = torch.randint(0, LETTERS, (len(distinct), int(n_letters.max())), generator=g)
        tags = torch.randint(0, len(TAG_NAMES), (batch, T), generator=g)
        batches.append((ids, L, WordChars(letters, n_letters, rows), tags))
    return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]


def measure(hidden: int, decoder: str, batches: list, repeats: int) -> tuple[float, float, float]:
    torch.manual_seed(0)
    ours = Tagger(TAG_NAMES, "bioes", hidden, decoder=decoder, vocab_size=VOCAB, embedding_size=EMBEDDING,
                  unk_id=0, char_vocab_size=LETTERS, char_embedding=CHAR_E, char_hidden=CHAR_H, dropout=0.0)
    peer = TorchPeer(hidden, decoder == "crf")
    ours_opt = build_optimizer(ours.parameters(), TrainConfig(lr=1e-3))
    peer_opt = torch.optim.Adam(peer.parameters(), lr=1e-3)

    def side(model, opt):
        def run(batches):
            for ids, lengths, chars, tags in batches:
                loss = model(ids, lengths, chars, tags).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return run

    sides = [side(ours.train(), ours_opt), side(peer.train(), peer_opt)]
    for run in sides:
        run(batches[:4])
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        for run, spent in zip(sides, times):
            start = time.perf_counter()
            run(batches)
            spent.append(time.perf_counter() - start)
    sentences = sum(len(b[1]) for b in batches)
    ratio = statistics.median(p / o for o, p in zip(*times))
    return sentences / statistics.median(times[0]), sentences / statistics.median(times[1]), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sentences", type=int, default=960)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    batches = make_batches(args.sentences, args.batch_size, 0)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"Tagger (bi-LSTM H = {args.hidden}, letters' bi-LSTM {CHAR_H}, lengths) vs torch.nn.LSTM + "
          f"pack_padded_sequence, batches of {args.batch_size}, {len(batches)} batches\n")
    print(f"{'loss':<8} {'rnnkit sent/s':>14} {'peer sent/s':>12} {'ratio':>7}")
    for decoder in ("softmax", "crf"):
        ours, peer, ratio = measure(args.hidden, decoder, batches, args.repeats)
        print(f"{decoder:<8} {ours:14.1f} {peer:12.1f} {ratio:6.2f}×", flush=True)


if __name__ == "__main__":
    main()
