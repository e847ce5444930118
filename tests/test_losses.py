"""rnnkit/losses.py: L = Σ_t L<t>, summed over time, averaged over the batch, masked for padding."""

import math

import pytest
import torch

from rnnkit import sequence_cross_entropy, sequence_logistic_loss

F64 = torch.float64


def _ce_by_hand(logits, targets):
    """(T, B) table of −log softmax(z<t>)[y<t>], from exp and log of Python floats."""
    T, B, _ = logits.shape
    out = torch.zeros(T, B, dtype=F64)
    for t in range(T):
        for b in range(B):
            z = logits[t, b].tolist()
            out[t, b] = -(z[targets[t, b]] - math.log(sum(math.exp(v) for v in z)))
    return out


def _logistic_by_hand(logits, targets):
    """(T, B) table of Σ_k −y log ŷ − (1 − y) log(1 − ŷ), ŷ = σ(z)."""
    T, B, K = logits.shape
    out = torch.zeros(T, B, dtype=F64)
    for t in range(T):
        for b in range(B):
            for k in range(K):
                y_hat = 1 / (1 + math.exp(-logits[t, b, k].item()))
                y = targets[t, b, k].item()
                out[t, b] += -y * math.log(y_hat) - (1 - y) * math.log(1 - y_hat)
    return out


@pytest.fixture
def ce_data():
    logits = torch.randn(4, 3, 5, dtype=F64)
    targets = torch.randint(0, 5, (4, 3))
    return logits, targets, _ce_by_hand(logits, targets)


def test_cross_entropy_tiny_example():
    # one step, two classes with equal logits: −log(1/2)
    logits = torch.zeros(1, 1, 2, dtype=F64)
    assert sequence_cross_entropy(logits, torch.tensor([[1]])).item() == pytest.approx(math.log(2))


def test_cross_entropy_sum_is_sum_over_time_mean_over_batch(ce_data):
    logits, targets, table = ce_data
    want = sum(table[:, b].sum().item() for b in range(3)) / 3
    assert sequence_cross_entropy(logits, targets).item() == pytest.approx(want, rel=1e-12)
    assert sequence_cross_entropy(logits, targets, reduction="sum").item() == pytest.approx(want, rel=1e-12)


def test_cross_entropy_mean_is_per_token(ce_data):
    logits, targets, table = ce_data
    got = sequence_cross_entropy(logits, targets, reduction="mean").item()
    assert got == pytest.approx(table.sum().item() / 12, rel=1e-12)


def test_cross_entropy_none_and_masking(ce_data):
    logits, targets, table = ce_data
    lengths = [4, 1, 2]
    masked = table.clone()
    for b, n in enumerate(lengths):
        masked[n:, b] = 0
    torch.testing.assert_close(sequence_cross_entropy(logits, targets, reduction="none"), table)
    torch.testing.assert_close(
        sequence_cross_entropy(logits, targets, lengths=torch.tensor(lengths), reduction="none"), masked)
    assert sequence_cross_entropy(logits, targets, lengths=lengths).item() == pytest.approx(
        masked.sum().item() / 3, rel=1e-12)
    assert sequence_cross_entropy(logits, targets, lengths=lengths, reduction="mean").item() == pytest.approx(
        masked.sum().item() / 7, rel=1e-12)
    mask = torch.arange(4).unsqueeze(1) < torch.tensor(lengths).unsqueeze(0)
    assert sequence_cross_entropy(logits, targets, mask=mask, reduction="mean").item() == pytest.approx(
        masked.sum().item() / 7, rel=1e-12)


def test_cross_entropy_padding_targets_do_not_matter(ce_data):
    logits, targets, _ = ce_data
    lengths = torch.tensor([4, 1, 2])
    other = targets.clone()
    other[2:, 2] = (other[2:, 2] + 1) % 5
    other[1:, 1] = (other[1:, 1] + 2) % 5
    assert sequence_cross_entropy(logits, targets, lengths=lengths).item() == \
        sequence_cross_entropy(logits, other, lengths=lengths).item()
    logits = logits.clone().requires_grad_(True)
    sequence_cross_entropy(logits, targets, lengths=lengths).backward()
    assert not logits.grad[1:, 1].any() and not logits.grad[2:, 2].any()
    assert logits.grad[0, 1].abs().sum() > 0


def test_cross_entropy_batch_first(ce_data):
    logits, targets, _ = ce_data
    for reduction in ("sum", "mean"):
        want = sequence_cross_entropy(logits, targets, lengths=[4, 1, 2], reduction=reduction)
        got = sequence_cross_entropy(logits.transpose(0, 1), targets.T, lengths=[4, 1, 2], reduction=reduction,
                                     batch_first=True)
        torch.testing.assert_close(got, want)


def test_logistic_loss_matches_hand_computation():
    logits = torch.randn(3, 2, 4, dtype=F64)
    targets = (torch.rand(3, 2, 4) > 0.5).to(F64)
    table = _logistic_by_hand(logits, targets)
    assert sequence_logistic_loss(logits, targets).item() == pytest.approx(table.sum().item() / 2, rel=1e-12)
    assert sequence_logistic_loss(logits, targets, reduction="mean").item() == pytest.approx(
        table.sum().item() / 6, rel=1e-12)
    masked = table.clone()
    masked[1:, 1] = 0
    lengths = torch.tensor([3, 1])
    torch.testing.assert_close(sequence_logistic_loss(logits, targets, lengths=lengths, reduction="none"), masked)
    assert sequence_logistic_loss(logits, targets, lengths=lengths, reduction="mean").item() == pytest.approx(
        masked.sum().item() / 4, rel=1e-12)
    got = sequence_logistic_loss(logits.transpose(0, 1), targets.transpose(0, 1), lengths=lengths,
                                 batch_first=True)
    assert got.item() == pytest.approx(masked.sum().item() / 2, rel=1e-12)


def test_logistic_loss_accepts_bool_targets():
    logits = torch.zeros(1, 1, 3, dtype=F64)
    got = sequence_logistic_loss(logits, torch.tensor([[[True, False, True]]]))
    assert got.item() == pytest.approx(3 * math.log(2))


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction.*'avg'"):
        sequence_cross_entropy(torch.zeros(2, 1, 3), torch.zeros(2, 1, dtype=torch.long), reduction="avg")


def test_batch_first_mask_is_batch_first(ce_data):
    # with batch_first the mask is (B, T), like the logits and the targets
    logits, targets, table = ce_data
    lengths = [4, 1, 2]
    mask = torch.arange(4).unsqueeze(1) < torch.tensor(lengths).unsqueeze(0)  # (T, B)
    want = sequence_cross_entropy(logits, targets, mask=mask)
    got = sequence_cross_entropy(logits.transpose(0, 1), targets.T, mask=mask.T, batch_first=True)
    torch.testing.assert_close(got, want)
    multi_hot = (torch.rand(4, 3, 2) > 0.5).to(F64)
    want = sequence_logistic_loss(logits[..., :2], multi_hot, mask=mask, reduction="mean")
    got = sequence_logistic_loss(logits[..., :2].transpose(0, 1), multi_hot.transpose(0, 1), mask=mask.T,
                                 reduction="mean", batch_first=True)
    torch.testing.assert_close(got, want)


def test_mask_of_the_wrong_shape():
    logits, targets = torch.zeros(4, 3, 5), torch.zeros(4, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"mask must have shape \(T, B\), got \(3, 4\)"):
        sequence_cross_entropy(logits, targets, mask=torch.ones(3, 4, dtype=torch.bool))
