"""CTCRecognizer: subsampling counts frames right, padding is invisible, the loss is torch's CTC per utterance, the
gradient check passes, and a tiny recogniser learns to spell."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import CTCRecognizer
from rnnkit.models.ctc import min_frames
from rnnkit.models.ctc_decoding import greedy_decode


@pytest.mark.parametrize("subsampling, stride", [("none", 1), ("stack", 2), ("stack", 3), ("conv", 2), ("conv", 3)])
def test_frame_counts_and_padding_is_invisible(subsampling, stride):
    torch.manual_seed(0)
    model = CTCRecognizer(5, 7, hidden_size=8, num_layers=2, subsampling=subsampling, stride=stride).eval()
    lengths = torch.tensor([11, 7, 4, 1])
    x = torch.randn(4, 11, 5)
    x[1, 7:] = 100.0                                          # padding holds junk that would show if read
    lp, frames = model(x, lengths)
    assert frames.tolist() == [-(-n // stride) for n in lengths.tolist()]
    assert lp.shape == (4, -(-11 // stride), 7)
    for b, n in enumerate(lengths.tolist()):
        alone, f = model(x[b:b + 1, :n], torch.tensor([n]))
        assert int(f) == int(frames[b])
        torch.testing.assert_close(lp[b, :int(f)], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lp.exp().sum(2), torch.ones(4, lp.shape[1]), atol=1e-5, rtol=0)


def test_the_loss_is_ctc_per_utterance():
    torch.manual_seed(1)
    model = CTCRecognizer(3, 4, hidden_size=6, num_layers=1, subsampling="none").eval()
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 4])
    targets, t_len = torch.tensor([[1, 2, 2], [3, 0, 0]]), torch.tensor([3, 1])
    lp, frames = model(x, lengths)
    got = model.loss(lp, frames, targets, t_len)
    for b in range(2):
        want = F.ctc_loss(lp[b, :int(frames[b])].unsqueeze(1), targets[b:b + 1, :int(t_len[b])], frames[b:b + 1],
                          t_len[b:b + 1], reduction="sum")
        torch.testing.assert_close(got[b], want)


def test_gradients_match_finite_differences_in_float64():
    torch.manual_seed(2)
    model = CTCRecognizer(3, 4, hidden_size=4, num_layers=1, subsampling="conv", stride=2,
                          conv_channels=3).double()
    x = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    lengths, targets, t_len = torch.tensor([7, 5]), torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])

    def f(x):
        lp, frames = model(x, lengths)
        return model.loss(lp, frames, targets, t_len).sum()
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)


def test_min_frames_counts_a_blank_between_repeats():
    assert min_frames([]) == 0 and min_frames([1, 2, 3]) == 3
    assert min_frames([1, 1, 2, 2, 2]) == 8                   # 1 - 1 2 - 2 - 2


def test_a_tiny_recognizer_learns_to_spell():
    """Three 'words' of three symbols each, every symbol a fixed feature pattern lasting 3–5 frames: after a few
    hundred steps greedy decoding spells every training utterance right."""
    g = torch.Generator().manual_seed(3)
    patterns = torch.randn(5, 6, generator=g) * 2
    words = [[1, 2, 3], [3, 4, 4], [2, 1]]
    xs, ys = [], []
    for k in range(24):
        word = words[k % 3]
        frames = [patterns[0]] * 2
        for s in word:
            frames += [patterns[s]] * int(torch.randint(3, 6, (1,), generator=g))
            frames += [patterns[0]]
        xs.append(torch.stack(frames) + 0.1 * torch.randn(len(frames), 6, generator=g))
        ys.append(word)
    lengths = torch.tensor([len(x) for x in xs])
    x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
    t_len = torch.tensor([len(y) for y in ys])
    targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(y) for y in ys], batch_first=True)
    torch.manual_seed(4)
    model = CTCRecognizer(6, 5, hidden_size=16, num_layers=1, subsampling="none")
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(150):
        opt.zero_grad()
        lp, frames = model(x, lengths)
        model.loss(lp, frames, targets, t_len).mean().backward()
        opt.step()
    lp, frames = model.predict(x, lengths)
    assert greedy_decode(lp, frames) == ys
