import json
import math

import pytest
import torch

from rnnkit.audio import AugmentConfig, Augmenter, add_noise, apply_gain, spec_augment, speed_perturb
from rnnkit.errors import RnnkitError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def speech_like(T: int = 8000) -> torch.Tensor:
    """A deterministic voiced-looking wave: a few harmonics of 150 Hz under a slow envelope, at 8 kHz."""
    t = torch.arange(T, dtype=torch.float64) / 8000
    voiced = sum(torch.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 6))
    return (0.3 * voiced * torch.sin(math.pi * t / t[-1]) ** 2).float()


def db(power_ratio) -> float:
    return 10 * math.log10(float(power_ratio))


@pytest.fixture(autouse=True)
def global_rng_untouched():
    """No augmentation may draw from (or reseed) torch's global generator."""
    state = torch.get_rng_state()
    yield
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was used"


# --- the single augmentations -----------------------------------------------------------------------------

@pytest.mark.parametrize("snr_db", [0.0, 10.0, 23.5, 40.0])
def test_add_noise_achieves_the_snr(snr_db):
    wave = speech_like()
    noisy = add_noise(wave, snr_db, gen(0))
    noise = noisy.double() - wave.double()
    assert abs(db(wave.double().pow(2).mean() / noise.pow(2).mean()) - snr_db) < 0.5
    assert abs(float(noise.mean())) < 0.05 * float(noise.std())      # white and zero-mean, not a DC offset


def test_add_noise_is_reproducible_from_the_generator():
    wave = speech_like()
    assert torch.equal(add_noise(wave, 20.0, gen(1)), add_noise(wave, 20.0, gen(1)))
    assert not torch.equal(add_noise(wave, 20.0, gen(1)), add_noise(wave, 20.0, gen(2)))


def test_add_noise_leaves_silence_silent():
    assert torch.equal(add_noise(torch.zeros(100), 10.0, gen(0)), torch.zeros(100))


@pytest.mark.parametrize("gain_db", [-6.0, -1.5, 0.0, 3.0, 6.0])
def test_gain_in_db_is_exact(gain_db):
    wave = speech_like().double()
    out = apply_gain(wave, gain_db)
    assert math.isclose(db(out.pow(2).sum() / wave.pow(2).sum()), gain_db, abs_tol=1e-9)
    torch.testing.assert_close(out / wave.abs().max(), wave / wave.abs().max() * 10 ** (gain_db / 20))


@pytest.mark.parametrize("factor", [0.9, 1.1, 0.95, 1.25])
def test_speed_perturbation_changes_length_by_one_over_factor_and_scales_pitch(factor):
    t = torch.arange(8000, dtype=torch.float64) / 8000
    tone = torch.sin(2 * math.pi * 500 * t)
    out = speed_perturb(tone, factor)
    assert abs(out.shape[0] - 8000 / factor) <= 1
    spectrum = torch.fft.rfft(out * torch.hann_window(out.shape[0], dtype=torch.float64)).abs()
    peak_hz = float(spectrum.argmax()) * 8000 / out.shape[0]
    assert abs(peak_hz - 500 * factor) <= 8000 / out.shape[0]        # pitch moves with the tempo


def test_speed_one_is_identity():
    wave = speech_like()
    assert torch.equal(speed_perturb(wave, 1.0), wave)


def test_spec_augment_masks_stay_within_their_limits():
    T, F = 60, 40
    for seed in range(40):
        feats = torch.randn(T, F, generator=gen(1000 + seed)).abs() + 1      # no zeros before masking
        out = spec_augment(feats, gen(seed), time_masks=2, time_mask_max=10, freq_masks=2, freq_mask_max=8)
        zero = out == 0
        dead_rows = zero.all(1)                           # frames fully masked by time masks
        dead_cols = zero.all(0)                           # bins fully masked by frequency masks
        assert bool((zero == (dead_rows[:, None] | dead_cols[None, :])).all())   # only whole bands are zeroed
        assert int(dead_rows.sum()) <= 2 * min(10, int(0.2 * T))
        assert int(dead_cols.sum()) <= 2 * 8
        kept = ~zero
        assert torch.equal(out[kept], feats[kept])        # the rest untouched


def test_spec_augment_time_masks_are_at_most_a_fifth_of_a_short_utterance():
    feats = torch.ones(12, 5)
    for seed in range(30):
        out = spec_augment(feats, gen(seed), time_masks=1, time_mask_max=10, freq_masks=0)
        assert int((out == 0).all(1).sum()) <= 2          # floor(0.2 · 12) = 2 frames, not 10


def test_spec_augment_masks_something_and_is_reproducible():
    feats = torch.ones(100, 40)
    outs = [spec_augment(feats, gen(s)) for s in range(10)]
    assert any(bool((o == 0).any()) for o in outs)
    assert torch.equal(spec_augment(feats, gen(3)), outs[3])
    assert not all(torch.equal(o, outs[0]) for o in outs[1:])
    assert bool((feats == 1).all())                       # the input is not modified in place


# --- the Augmenter and its config ------------------------------------------------------------------------------

def test_augmenter_is_reproducible_per_seed():
    aug, wave, feats = Augmenter(AugmentConfig(noise_prob=1.0)), speech_like(), torch.ones(80, 40)
    a, b, c = (aug.wave(wave, gen(s)) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(aug.features(feats, gen(7)), aug.features(feats, gen(7)))
    assert not torch.equal(aug.features(feats, gen(7)), aug.features(feats, gen(9)))


def test_augmenter_uses_every_speed_factor():
    aug, wave = Augmenter(AugmentConfig(noise_snr_db=None, gain_db=None)), speech_like(8000)
    lengths = {aug.wave(wave, gen(s)).shape[0] for s in range(30)}
    assert lengths == {math.ceil(8000 / 0.9), 8000, math.ceil(8000 / 1.1)}


def test_disabled_augmenter_returns_its_input():
    aug, wave, feats = Augmenter(AugmentConfig.none()), speech_like(), torch.randn(50, 40, generator=gen(0))
    assert aug.wave(wave, gen(0)) is wave and aug.features(feats, gen(0)) is feats
    off = AugmentConfig(enabled=False)
    assert Augmenter(off).wave(wave, gen(0)) is wave


def test_augment_config_round_trips_through_json():
    cfg = AugmentConfig(speed=(0.8, 1.2), noise_snr_db=(5.0, 15.0), gain_db=None, time_masks=3)
    assert AugmentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert AugmentConfig.from_dict(json.loads(json.dumps(AugmentConfig.none().to_dict()))) == AugmentConfig.none()


@pytest.mark.parametrize("bad,match", [({"speed": (0.0, 1.0)}, "speed"), ({"noise_snr_db": (40.0, 10.0)}, "low"),
                                       ({"noise_prob": 1.5}, "noise_prob"), ({"freq_masks": -1}, "freq_masks")])
def test_augment_config_rejects_bad_values(bad, match):
    with pytest.raises(RnnkitError, match=match):
        AugmentConfig(**bad)
