"""The plain-PyTorch translation peer of benchmarks/translate_peer.py (the PyTorch tutorial's recipe).

It learns a tiny copy task within a short budget, and padding is honest: a sentence's encoder outputs, final
state, decoder log-probabilities and greedy translation are the same alone and batched with a longer one,
padded source positions get attention weights of exactly 0, and padded target positions add nothing to
the loss.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"rnnkit_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


tp = load_script("translate_peer")

VOCAB, BOS, EOS = 8, 8, 9  # sources in [0, 8); targets in [0, 10) with bos 8 and eos 9
BUDGET_S = 15.0


def copy_pairs(n=300, seed=0):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        s = [rng.randrange(VOCAB) for _ in range(rng.randint(3, 6))]
        pairs.append((s, list(s)))
    return pairs


@pytest.fixture(scope="module")
def trained():
    """The peer trained for BUDGET_S seconds on one thread, with its pairs, log lines and wall-clock."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        pairs = copy_pairs()
        lines = []
        start = time.perf_counter()
        peer = tp.train_peer(pairs, VOCAB, VOCAB + 2, BOS, EOS, budget_s=BUDGET_S, seed=0, log=lines.append)
        elapsed = time.perf_counter() - start
        yield peer, pairs, lines, elapsed
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_learns_to_copy_within_the_budget(trained, one_thread):
    peer, pairs, lines, elapsed = trained
    assert not peer.training
    assert BUDGET_S <= elapsed < BUDGET_S + 2.0  # stops at the first batch past the budget
    assert peer.steps > 0 and lines and lines[-1].startswith("peer: epoch")
    assert peer.history[-1]["steps"] == peer.steps
    hypotheses = tp.translate_peer(peer, [s for s, _ in pairs], max_len=lambda n: n + 5)
    exact = sum(h == t for h, (_, t) in zip(hypotheses, pairs)) / len(pairs)
    assert exact >= 0.9, f"{exact:.0%} copied exactly after {peer.steps} steps"
    assert all(EOS not in h for h in hypotheses)


def test_padding_leaves_encoder_outputs_alone(trained, one_thread):
    peer, _, _, _ = trained
    short, long = [3, 1, 4], [1, 5, 2, 6, 5, 3, 5, 0]
    with torch.no_grad():
        alone, hidden_alone, mask_alone = peer.encode([short])
        batched, hidden_batched, mask = peer.encode([long, short])
    assert batched.shape[1] == len(long) and mask[1].tolist() == [True] * 3 + [False] * 5
    assert mask_alone.all()
    torch.testing.assert_close(batched[1, :len(short)], alone[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(hidden_batched[:, 1], hidden_alone[:, 0], rtol=0, atol=1e-6)
    assert (batched[1, len(short):] == 0).all()


def test_attention_on_padded_sources_is_exactly_zero(trained, one_thread):
    peer, _, _, _ = trained
    sources = [[1, 5, 2, 6, 5, 3, 5, 0], [3, 1, 4], [2, 7, 7, 1]]
    targets = [list(s) for s in sources]
    with torch.no_grad():
        log_probs, attention, target = peer(sources, targets)
        alone, attention_alone, _ = peer([sources[1]], [targets[1]])
    assert attention.shape == (3, len(sources[0]) + 1, len(sources[0]))
    for b, s in enumerate(sources):
        assert (attention[b, :, len(s):] == 0).all()
        torch.testing.assert_close(attention[b].sum(-1), torch.ones(attention.shape[1]), rtol=0, atol=1e-6)
    steps = len(targets[1]) + 1  # its ids then eos
    torch.testing.assert_close(attention[1, :steps, :3], attention_alone[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(log_probs[1, :steps], alone[0], rtol=0, atol=1e-5)
    assert target[1].tolist() == [*targets[1], EOS] + [peer.tgt_pad] * 5


def test_padded_targets_add_nothing_to_the_loss(trained, one_thread):
    peer, _, _, _ = trained
    a, b = ([3, 1, 4], [3, 1]), ([1, 5, 2, 6, 5, 3], [1, 5, 2, 6, 5, 3, 5, 0])

    def summed_nll(batch):
        log_probs, _, target = peer([s for s, _ in batch], [t for _, t in batch])
        return F.nll_loss(log_probs.reshape(-1, log_probs.size(-1)), target.reshape(-1),
                          ignore_index=peer.tgt_pad, reduction="sum")

    with torch.no_grad():
        torch.testing.assert_close(summed_nll([a, b]), summed_nll([a]) + summed_nll([b]), rtol=1e-5, atol=1e-5)


def test_translation_is_the_same_alone_and_batched(trained, one_thread):
    peer, pairs, _, _ = trained
    sources = [s for s, _ in pairs[:40]]
    batched = tp.translate_peer(peer, sources, max_len=lambda n: n + 5, batch_size=16)
    alone = [tp.translate_peer(peer, [s], max_len=lambda n: n + 5)[0] for s in sources]
    assert batched == alone
    assert [len(h) for h in tp.translate_peer(peer, sources, max_len=2)] == [2] * len(sources)
    assert tp.translate_peer(peer, sources[:3], max_len=0) == [[], [], []]


def test_zero_budget_takes_one_step_and_bad_ids_are_refused(one_thread):
    pairs = copy_pairs(20)
    peer = tp.train_peer(pairs, VOCAB, VOCAB + 2, BOS, EOS, budget_s=0, log=None)
    assert peer.steps == 1 and not peer.training
    assert peer.encoder.embedding.num_embeddings == VOCAB + 1 and peer.src_pad == VOCAB
    assert peer.decoder.out.out_features == VOCAB + 2 and peer.tgt_pad == VOCAB + 2
    with pytest.raises(ValueError, match="empty source"):
        tp.train_peer([([], [1])], VOCAB, VOCAB + 2, BOS, EOS, budget_s=0, log=None)
    with pytest.raises(ValueError, match="source ids"):
        tp.train_peer([([VOCAB], [1])], VOCAB, VOCAB + 2, BOS, EOS, budget_s=0, log=None)
    with pytest.raises(ValueError, match="eos"):
        tp.train_peer(pairs, VOCAB, VOCAB + 2, BOS, VOCAB + 2, budget_s=0, log=None)
