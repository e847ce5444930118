"""PianoRollModel: the loss is the notes' logistic loss summed over keys, the NLL per frame is the literature's
(first frame not scored), generation is deterministic under a seed and its temperature and polyphony do what
they say."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.data.examples import Batch
from rnnkit.models.piano_roll import KEYS, PianoRollModel, draw_frame
from rnnkit.tasks.music import MusicObjective, roll_batches, score, transpose_rolls


def _rolls(B=3, T=7, seed=0, p=0.08):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, KEYS, generator=g) < p).float()


def test_training_loss_is_the_logistic_loss_summed_over_keys_per_frame():
    model = PianoRollModel(hidden_size=8, cell="lstm", dropout=0.0)
    rolls = _rolls()
    lengths = torch.tensor([7, 4, 2])
    objective = MusicObjective(mean_frames=5.0)
    batch = Batch(rolls, lengths, None, torch.arange(3), global_size=3)
    loss, _ = objective.train_loss(model, batch, None)
    # by hand: y_hat<t> = sigmoid(W_ya a<t> + b_y) from x<1> = 0, x<t> = y<t-1>
    x = torch.cat([torch.zeros(3, 1, KEYS), rolls[:, :-1]], dim=1)
    a, _ = model.rnn(x)
    a = a.detach()
    y_hat = torch.sigmoid(a @ model.head.W_ya.T + model.head.b_y).detach()
    per_key = -(rolls * torch.log(y_hat) + (1 - rolls) * torch.log(1 - y_hat))
    total = sum(float(per_key[b, : lengths[b]].sum()) for b in range(3))
    assert float(loss.detach()) == pytest.approx(total / (3 * 5.0), rel=1e-5)
    frame = model.frame_losses(rolls, lengths)
    assert frame.shape == (3, 7) and float(frame[1, 4:].abs().sum().detach()) == 0
    assert float(frame[0, 2].detach()) == pytest.approx(float(per_key[0, 2].sum()), rel=1e-5)


def test_nll_per_frame_on_a_hand_computed_example():
    """A model whose every output is the same p (W_ya = 0): the NLL per frame is, by hand, the mean over frames
    2 … T of −Σ_k log(p_k if on else 1 − p_k)."""
    model = PianoRollModel(hidden_size=4, dropout=0.0)
    p = torch.full((KEYS,), 0.1)
    p[39] = 0.75                                                   # C4 likely
    with torch.no_grad():
        model.head.W_ya.zero_()
        model.head.b_y.copy_(torch.log(p / (1 - p)))
    from rnnkit.data.formats.music import Piece

    a = np.zeros((3, KEYS), bool)
    a[:, 39] = True                                                # C4 held: frames 2, 3 each cost −log .75 + rest
    b = np.zeros((2, KEYS), bool)
    b[1, [39, 43]] = True                                          # frame 2: C4 and E4
    off = -87 * math.log(0.9)
    frame_a = -math.log(0.75) + off                                # C4 on, every other key off
    frame_b = -math.log(0.75) - math.log(0.1) + 86 * -math.log(0.9)
    expected = (2 * frame_a + frame_b) / 3                         # first frames are not scored
    got = score(model, roll_batches([Piece(a, "a"), Piece(b, "b")], 2))
    assert got["frames"] == 3
    assert got["nll_per_frame"] == pytest.approx(expected, rel=1e-6)
    # the most likely next frame is C4 alone: piece a's frames are right (TP 2), b's misses E4 (TP 1, FN 1)
    assert got["frame_accuracy"] == pytest.approx(3 / 4)


def test_padding_does_not_change_a_pieces_scores():
    model = PianoRollModel(hidden_size=8, dropout=0.0)
    rolls = _rolls(B=1, T=5)
    alone = model.frame_losses(rolls)[0]
    padded = torch.cat([rolls, _rolls(B=1, T=4, seed=1)], dim=1)
    together = model.frame_losses(torch.cat([padded, _rolls(B=1, T=9, seed=2)]), torch.tensor([5, 9]))[0]
    assert torch.allclose(together[:5], alone, atol=1e-6) and float(together[5:].abs().sum().detach()) == 0


def test_generation_is_deterministic_under_a_seed_and_starts_with_the_primer():
    model = PianoRollModel(hidden_size=16)
    primer = _rolls(B=1, T=4)[0].bool()

    def draw(seed):
        return model.generate(3, 12, primer, generator=torch.Generator().manual_seed(seed))

    first, again, other = draw(5), draw(5), draw(6)
    assert first.shape == (3, 12, KEYS) and first.dtype == torch.bool
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first[:, :4], primer.expand(3, 4, KEYS))
    assert model.training                                          # generation leaves the mode as it was
    with pytest.raises(ValueError, match="primer"):
        model.generate(1, 3, primer)


def test_generation_follows_the_models_own_probabilities():
    """Each drawn frame is fed back: with temperature 0 the pieces equal the greedy recurrence by hand."""
    model = PianoRollModel(hidden_size=8, cell="lstm").eval()
    with torch.no_grad():
        model.head.b_y.add_(torch.linspace(-3, 3, KEYS))           # some keys on, some off
    got = model.generate(1, 6, temperature=0.0)[0]
    x = torch.zeros(1, 1, KEYS)
    frames = []
    for _ in range(6):
        logits, _ = model(x)
        frames.append(logits[0, -1] > 0)
        x = torch.cat([x, frames[-1].float().view(1, 1, KEYS)], dim=1)
    assert torch.equal(got, torch.stack(frames))


def test_temperature_towards_zero_gives_the_most_likely_keys():
    logits = torch.randn(64, KEYS) * 3
    most_likely = logits > 0
    assert torch.equal(draw_frame(logits, 0.0), most_likely)
    cold = draw_frame(logits, 1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cold, most_likely)
    warm = draw_frame(logits, 1.0, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(warm, most_likely)


def test_bernoulli_draws_have_the_models_probabilities():
    logits = torch.tensor([[-2.0, 0.0, 1.5]]).expand(20000, 3)
    frames = draw_frame(logits, 1.0, generator=torch.Generator().manual_seed(1)).float()
    assert torch.allclose(frames.mean(0), torch.sigmoid(logits[0]), atol=0.01)
    hot = draw_frame(logits, 2.0, generator=torch.Generator().manual_seed(1)).float()
    assert torch.allclose(hot.mean(0), torch.sigmoid(logits[0] / 2), atol=0.01)


def test_max_polyphony_keeps_the_most_probable_of_the_drawn_keys():
    logits = torch.tensor([[5.0, 4.0, 3.0, -9.0, 6.0]])
    assert draw_frame(logits, 0.0, max_polyphony=2).tolist() == [[True, False, False, False, True]]
    assert draw_frame(logits, 0.0, max_polyphony=9).tolist() == [[True, True, True, False, True]]


def test_transposition_moves_keys_and_drops_what_falls_off():
    rolls = torch.zeros(2, 1, KEYS)
    rolls[:, 0, [0, 40, 87]] = 1
    moved = transpose_rolls(rolls, torch.tensor([2, -1]))
    assert torch.nonzero(moved[0, 0]).flatten().tolist() == [2, 42]
    assert torch.nonzero(moved[1, 0]).flatten().tolist() == [39, 86]


def test_config_round_trip():
    model = PianoRollModel(hidden_size=12, num_layers=2, cell="peephole-lstm", dropout=0.2, input_dropout=0.1)
    again = PianoRollModel.from_config(model.config)
    again.load_state_dict(model.state_dict())
    x = _rolls()
    model.eval()
    again.eval()
    assert torch.allclose(model(x)[0], again(x)[0])
