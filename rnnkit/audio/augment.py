"""Training-time data augmentation for speech, reproducible: every random draw comes from the caller's
``torch.Generator``, never from the global RNG.

On the waveform ``x (T,)``:

- speed perturbation (Ko et al. 2015, Kaldi's ``sox speed``): resample so the utterance lasts ``T / factor``
  samples at the same rate; tempo and pitch both scale by ``factor``;
- additive white noise at a signal-to-noise ratio ``snr_db``: ``x + n``, ``10 log10(P_x / P_n) = snr_db``;
- gain: ``x · 10^(gain_db / 20)``.

On normalised features ``(T, F)``: SpecAugment's time and frequency masks (Park et al. 2019), set to 0, which is
the mean after normalisation (so apply them after :class:`~rnnkit.audio.features.Normalizer`).

Shapes: ``T`` samples (waves) or frames (features), ``F`` features per frame.

Example::

    aug = Augmenter(AugmentConfig())
    g = torch.Generator().manual_seed(epoch * 100_003 + index)   # one stream per (epoch, utterance)
    feats, n = front(aug.wave(wave, g))                          # (1, T, F), (1,)
    feats = aug.features(norm.apply(feats, n)[0], g)             # (T, F)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import torch

from rnnkit.audio.features import config_from_dict
from rnnkit.audio.io import resample
from rnnkit.errors import RnnkitError

SPEED_MAX_DENOMINATOR = 100  # factor ≈ p / q with q <= 100: a resampler of at most 100 phases


@dataclass
class AugmentConfig:
    """Which augmentations the training set gets, and how strong; saved in a run's config.json.

    Attributes:
        speed: speed factors, one picked uniformly per utterance; ``()`` or ``(1.0,)`` is off.
        noise_snr_db: ``(low, high)`` SNR in dB, drawn uniformly; None is off.
        noise_prob: probability an utterance gets noise at all.
        gain_db: ``(low, high)`` gain in dB, drawn uniformly; None is off.
        time_masks / time_mask_max: SpecAugment time masks per utterance, each at most ``time_mask_max`` frames
            and at most ``time_mask_fraction`` of the utterance.
        freq_masks / freq_mask_max: frequency masks per utterance, each at most ``freq_mask_max`` bins.
        enabled: False turns every augmentation off (evaluation, or :meth:`none`).
    """

    speed: tuple[float, ...] = (0.9, 1.0, 1.1)
    noise_snr_db: tuple[float, float] | None = (10.0, 40.0)
    noise_prob: float = 0.5
    gain_db: tuple[float, float] | None = (-6.0, 6.0)
    time_masks: int = 2
    time_mask_max: int = 10
    time_mask_fraction: float = 0.2
    freq_masks: int = 2
    freq_mask_max: int = 8
    enabled: bool = True

    def __post_init__(self):
        self.speed = tuple(float(s) for s in self.speed)
        if any(not s > 0 for s in self.speed):
            raise RnnkitError(f"augment: speed factors must be positive, got {list(self.speed)}")
        for name in ("noise_snr_db", "gain_db"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 2 or value[0] > value[1]:
                    raise RnnkitError(f"augment: {name} must be (low, high) with low <= high, got {value!r}")
                setattr(self, name, (float(value[0]), float(value[1])))
        if not 0.0 <= self.noise_prob <= 1.0:
            raise RnnkitError(f"augment: noise_prob must be in [0, 1], got {self.noise_prob}")
        for name in ("time_masks", "time_mask_max", "freq_masks", "freq_mask_max"):
            if getattr(self, name) < 0:
                raise RnnkitError(f"augment: {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.time_mask_fraction <= 1.0:
            raise RnnkitError(f"augment: time_mask_fraction must be in [0, 1], got {self.time_mask_fraction}")

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all."""
        return cls(speed=(), noise_snr_db=None, noise_prob=0.0, gain_db=None, time_masks=0, freq_masks=0,
                   enabled=False)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> AugmentConfig:
        return config_from_dict(cls, d, "augment config")


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    """One draw from U[low, high) on the generator."""
    return low + (high - low) * torch.rand((), generator=generator, device=generator.device).item()


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """One draw from the integers low..high inclusive."""
    return int(torch.randint(low, high + 1, (), generator=generator, device=generator.device))


def speed_perturb(wave: torch.Tensor, factor: float) -> torch.Tensor:
    """Play ``wave (..., T)`` ``factor`` times faster: ``(..., ceil(T · q / p))`` with ``p / q ≈ factor``
    (``q <= 100``), pitch scaled by ``factor``.

    The samples are resampled from rate ``p`` to rate ``q`` and kept at the original rate, as Kaldi's speed
    perturbation does.
    """
    if not factor > 0:
        raise RnnkitError(f"speed_perturb: factor must be positive, got {factor}")
    ratio = Fraction(factor).limit_denominator(SPEED_MAX_DENOMINATOR)
    return resample(wave, ratio.numerator, ratio.denominator)


def add_noise(wave: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """``x + n`` with white Gaussian ``n`` scaled so that ``10 log10(P_x / P_n) = snr_db`` exactly.

    ``P = mean(x²)`` over the last dimension (``wave (..., T)``); a silent wave (``P_x = 0``) is returned as is.
    The generator must be on the wave's device.
    """
    noise = torch.randn(wave.shape, generator=generator, device=wave.device, dtype=wave.dtype)
    p_signal = wave.pow(2).mean(-1, keepdim=True)
    p_noise = noise.pow(2).mean(-1, keepdim=True).clamp(min=torch.finfo(wave.dtype).tiny)
    scale = torch.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))   # P_n ← P_x / 10^(snr/10)
    return wave + scale * noise


def apply_gain(wave: torch.Tensor, gain_db: float) -> torch.Tensor:
    """``x · 10^(gain_db / 20)``; not clipped (the features do not need [-1, 1], and clipping would distort)."""
    return wave * 10.0 ** (gain_db / 20.0)


def spec_augment(features: torch.Tensor, generator: torch.Generator, *, time_masks: int = 2,
                 time_mask_max: int = 10, time_mask_fraction: float = 0.2, freq_masks: int = 2,
                 freq_mask_max: int = 8) -> torch.Tensor:
    """SpecAugment masking of one utterance's ``features (T, F)``; returns a masked copy.

    Each frequency mask zeroes bins ``[f0, f0 + f)``, ``f ~ U{0..min(freq_mask_max, F)}``, ``f0 ~ U{0..F − f}``;
    each time mask zeroes frames ``[t0, t0 + w)``, ``w ~ U{0..W}`` with
    ``W = min(time_mask_max, floor(time_mask_fraction · T))``, ``t0 ~ U{0..T − w}``. Masks may overlap.
    """
    if features.dim() != 2:
        raise ValueError(f"spec_augment expects one utterance's features (T, F), got {tuple(features.shape)}")
    T, F = features.shape
    keep = torch.ones(T, F, dtype=torch.bool, device=features.device)
    for _ in range(freq_masks):
        f = _randint(0, min(freq_mask_max, F), generator)
        f0 = _randint(0, F - f, generator)
        keep[:, f0:f0 + f] = False
    W = min(time_mask_max, math.floor(time_mask_fraction * T))
    for _ in range(time_masks):
        w = _randint(0, W, generator)
        t0 = _randint(0, T - w, generator)
        keep[t0:t0 + w, :] = False
    return features * keep


class Augmenter:
    """Applies an :class:`AugmentConfig`: :meth:`wave` before the front end, :meth:`features` after normalising.

    Example::

        aug = Augmenter(AugmentConfig())
        g = torch.Generator().manual_seed(1234)
        wave = aug.wave(wave, g)            # (T,) → (T',): speed, noise, gain
        feats = aug.features(feats, g)      # (T, F) → (T, F): SpecAugment
    """

    def __init__(self, config: AugmentConfig | None = None):
        self.config = config or AugmentConfig()

    def wave(self, wave: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Speed perturbation, then noise (with probability ``noise_prob``), then gain, of ``wave (T,)``."""
        cfg = self.config
        if not cfg.enabled:
            return wave
        if len(cfg.speed) > 0:
            factor = cfg.speed[_randint(0, len(cfg.speed) - 1, generator)]
            if factor != 1.0:
                wave = speed_perturb(wave, factor)
        if cfg.noise_snr_db is not None and cfg.noise_prob > 0:
            if _uniform(0.0, 1.0, generator) < cfg.noise_prob:
                wave = add_noise(wave, _uniform(*cfg.noise_snr_db, generator), generator)
        if cfg.gain_db is not None:
            wave = apply_gain(wave, _uniform(*cfg.gain_db, generator))
        return wave

    def features(self, features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """SpecAugment on one utterance's normalised ``features (T, F)``."""
        cfg = self.config
        if not cfg.enabled or (cfg.time_masks == 0 and cfg.freq_masks == 0):
            return features
        return spec_augment(features, generator, time_masks=cfg.time_masks, time_mask_max=cfg.time_mask_max,
                            time_mask_fraction=cfg.time_mask_fraction, freq_masks=cfg.freq_masks,
                            freq_mask_max=cfg.freq_mask_max)
