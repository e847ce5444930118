"""The plain-PyTorch CTC peer of benchmarks/speech_peer.py: it learns, and padding is invisible.

On random features with a tiny model: a few Adam steps lower the CTC loss; an utterance's log-probabilities
are the same alone and in a padded batch with longer ones; the batch's loss is the mean of the utterances'
losses alone (the concatenated targets are cut where they should be).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"rnnkit_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sp = load_script("speech_peer")

N_FEATURES, N_CLASSES = 6, 5  # symbols 1 … 4 and the blank 0


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_batch(frame_lengths, target_lengths, generator):
    """(features (B, T, F), frame_lengths, targets (ΣU,), target_lengths), padded frames filled with noise."""
    frame_lengths = torch.tensor(frame_lengths)
    target_lengths = torch.tensor(target_lengths)
    features = torch.randn(len(frame_lengths), int(frame_lengths.max()), N_FEATURES, generator=generator)
    targets = torch.randint(1, N_CLASSES, (int(target_lengths.sum()),), generator=generator)
    return features, frame_lengths, targets, target_lengths


def test_a_few_steps_lower_the_loss():
    generator = torch.Generator().manual_seed(0)
    batches = [random_batch([20, 14, 17, 9], [4, 3, 2, 3], generator),
               random_batch([12, 18, 16], [2, 5, 3], generator)]
    model = sp.PeerCTC(N_FEATURES, hidden_size=8, num_layers=2, n_classes=N_CLASSES)
    result = sp.train_steps(model, batches, steps=20, lr=1e-2)
    assert result["steps"] == 20 and result["utterances"] == 10 * 4 + 10 * 3
    assert len(result["losses"]) == 20 and all(loss == loss for loss in result["losses"])
    assert result["utterances_per_s"] > 0 and result["seconds"] > 0
    first, last = sum(result["losses"][:2]) / 2, sum(result["losses"][-2:]) / 2
    assert last < 0.7 * first, result["losses"]
    with pytest.raises(ValueError, match="at least one batch"):
        sp.train_steps(model, [], steps=1)


def test_padding_is_invisible():
    generator = torch.Generator().manual_seed(1)
    features, frame_lengths, targets, target_lengths = random_batch([11, 4, 7], [3, 1, 2], generator)
    model = sp.PeerCTC(N_FEATURES, hidden_size=5, num_layers=2, n_classes=N_CLASSES).eval()
    with torch.no_grad():
        batched = model(features, frame_lengths)
        assert batched.shape == (3, 11, N_CLASSES)
        offsets = [0, *torch.cumsum(target_lengths, 0).tolist()]
        alone_losses = []
        for b in range(3):
            n = int(frame_lengths[b])
            alone = model(features[b:b + 1, :n], frame_lengths[b:b + 1])
            torch.testing.assert_close(batched[b, :n], alone[0], rtol=0, atol=1e-6)
            one = (features[b:b + 1, :n], frame_lengths[b:b + 1], targets[offsets[b]:offsets[b + 1]],
                   target_lengths[b:b + 1])
            alone_losses.append(sp.ctc_loss(model, one))
        # what the padded frames hold changes nothing
        changed = features.clone()
        changed[1, 4:] = 100.0
        torch.testing.assert_close(model(changed, frame_lengths)[1, :4], batched[1, :4], rtol=0, atol=1e-6)
        loss = sp.ctc_loss(model, (features, frame_lengths, targets, target_lengths))
        torch.testing.assert_close(loss, torch.stack(alone_losses).mean(), rtol=1e-5, atol=1e-6)
        assert torch.allclose(batched.exp().sum(-1), torch.ones(3, 11))


def test_an_impossible_utterance_adds_nothing():
    generator = torch.Generator().manual_seed(2)
    features, frame_lengths, targets, target_lengths = random_batch([3, 10], [5, 2], generator)  # 5 > 3 frames
    model = sp.PeerCTC(N_FEATURES, hidden_size=4, num_layers=1, n_classes=N_CLASSES)
    loss = sp.ctc_loss(model, (features, frame_lengths, targets, target_lengths))
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    log_probs = model(features[1:], frame_lengths[1:])
    possible = F.ctc_loss(log_probs.transpose(0, 1), targets[5:], frame_lengths[1:], target_lengths[1:])
    torch.testing.assert_close(loss, possible / 2, rtol=1e-5, atol=1e-6)  # the mean over 2, one of them 0
