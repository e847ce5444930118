"""The acoustic front end: waveform → log-mel filterbank (or MFCC) frames, and feature normalisation.

Per utterance ``x (T,)`` in [-1, 1]:

1. dither (training only, ``dither > 0``): ``x ← x + (dither / 32768) · ε``, ``ε ~ N(0, 1)`` (Kaldi's unit: one
   16-bit step);
2. pre-emphasis: ``y[t] = x[t] − a · x[t−1]`` with ``x[−1] = 0`` (``a = preemphasis``; 0 disables);
3. framing, centred: frame ``m`` is centred on sample ``m · hop``, the signal padded with ``n_fft / 2`` zeros on
   each side (``torch.stft(center=True, pad_mode="constant")``), so a wave of ``T`` samples gives
   ``frames_for(T) = 1 + T // hop`` frames. Zero padding (not reflection) is what makes a padded batch give
   each utterance exactly the frames it gives alone: beyond its length an utterance sees zeros either way;
4. Hann window of ``win_length`` samples (periodic, centred in ``n_fft``), power spectrum ``P = |STFT|²``;
5. mel filterbank ``M (n_mels, n_fft/2 + 1)``, Slaney's mel scale with Slaney's area normalisation (the same
   matrix as ``librosa.filters.mel(htk=False, norm="slaney")``): ``S = log(M P + 1e-6)`` (natural log);
6. MFCC only: ``c = D S`` with ``D`` the first ``n_mfcc`` rows of the orthonormal DCT-II
   (``scipy.fft.dct(type=2, norm="ortho")``).

Shapes: ``B`` batch, ``T`` samples (input) or frames (output), ``F`` features per frame (``num_features``).

Example::

    front = FrontEnd(FrontEndConfig())                    # 40 log-mel bins, 25 ms windows every 10 ms
    feats, frame_lengths = front(waves, lengths)          # (B, T_frames, 40), (B,)
    feats = Normalizer("utterance").apply(feats, frame_lengths)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from rnnkit.errors import RnnkitError

LOG_FLOOR = 1e-6          # S = log(mel + LOG_FLOOR)
FEATURE_KINDS = ("fbank", "mfcc")


def config_from_dict(cls, d: dict, what: str):
    """A config dataclass from a JSON dict: unknown keys are an error, missing ones take their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise RnnkitError(f"{what}: unknown field(s) {', '.join(unknown)}; known are {', '.join(sorted(names))}")
    return cls(**d)


@dataclass
class FrontEndConfig:
    """How waveforms become feature frames; saved in a run's config.json (see :meth:`to_dict`).

    Attributes:
        sample_rate: Hz the waveforms are at (FSDD: 8000).
        features: ``"fbank"`` (log-mel filterbank) or ``"mfcc"``.
        n_mels: mel filters (the fbank dimension, and the DCT's input for MFCC).
        n_mfcc: cepstral coefficients kept (``features="mfcc"``).
        win_ms / hop_ms: analysis window and frame shift in milliseconds.
        preemphasis: ``a`` in ``y[t] = x[t] − a · x[t−1]``; 0 disables.
        f_min / f_max: lowest / highest filter edge in Hz; ``f_max=None`` is the Nyquist frequency.
        dither: standard deviation of Gaussian noise added in training, in 16-bit steps (1.0 = 1/32768).
    """

    sample_rate: int = 8000
    features: str = "fbank"
    n_mels: int = 40
    n_mfcc: int = 13
    win_ms: float = 25.0
    hop_ms: float = 10.0
    preemphasis: float = 0.97
    f_min: float = 0.0
    f_max: float | None = None
    dither: float = 0.0

    def __post_init__(self):
        if self.features not in FEATURE_KINDS:
            raise RnnkitError(f"front end: features must be one of {', '.join(FEATURE_KINDS)}, "
                              f"got {self.features!r}")
        if int(self.sample_rate) != self.sample_rate or self.sample_rate <= 0:
            raise RnnkitError(f"front end: sample_rate must be a positive integer (Hz), got {self.sample_rate!r}")
        if self.n_mels < 1:
            raise RnnkitError(f"front end: n_mels must be at least 1, got {self.n_mels}")
        if self.features == "mfcc" and not 1 <= self.n_mfcc <= self.n_mels:
            raise RnnkitError(f"front end: n_mfcc must be in [1, n_mels = {self.n_mels}], got {self.n_mfcc}")
        if self.win_length < 1 or self.hop_length < 1:
            raise RnnkitError(f"front end: win_ms = {self.win_ms} and hop_ms = {self.hop_ms} must each be at least "
                              f"one sample at {self.sample_rate} Hz")
        if not 0.0 <= self.preemphasis < 1.0:
            raise RnnkitError(f"front end: preemphasis must be in [0, 1), got {self.preemphasis}")
        if not 0.0 <= self.f_min < self.f_max_hz:
            raise RnnkitError(f"front end: need 0 <= f_min < f_max = {self.f_max_hz} Hz, got f_min = {self.f_min}")
        if self.f_max is not None and self.f_max > self.sample_rate / 2:
            raise RnnkitError(f"front end: f_max must be at most the Nyquist frequency {self.sample_rate / 2} Hz, "
                              f"got {self.f_max}")
        if self.dither < 0:
            raise RnnkitError(f"front end: dither must be >= 0, got {self.dither}")

    @property
    def f_max_hz(self) -> float:
        """The upper filter edge in Hz: ``f_max``, or ``sample_rate / 2`` when it is None."""
        return self.sample_rate / 2 if self.f_max is None else float(self.f_max)

    @property
    def num_features(self) -> int:
        """``F``: ``n_mels`` for fbank, ``n_mfcc`` for MFCC."""
        return self.n_mfcc if self.features == "mfcc" else self.n_mels

    @property
    def hop_length(self) -> int:
        """Frame shift in samples: ``round(sample_rate · hop_ms / 1000)`` (80 at 8 kHz, 10 ms)."""
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def win_length(self) -> int:
        """Window length in samples: ``round(sample_rate · win_ms / 1000)`` (200 at 8 kHz, 25 ms)."""
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def n_fft(self) -> int:
        """FFT size: the smallest power of two ``>= win_length`` (256 for 200)."""
        return 1 << (self.win_length - 1).bit_length()

    def frames_for(self, num_samples: int) -> int:
        """Frames a wave of ``num_samples`` samples gives alone: ``1 + num_samples // hop_length``."""
        return 1 + int(num_samples) // self.hop_length

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FrontEndConfig:
        return config_from_dict(cls, d, "front-end config")


# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above
_HZ_PER_MEL = 200.0 / 3                        # below 1 kHz, m = f / (200/3)
_LOG_HZ = 1000.0                               # where the log part starts (m = 15)
_LOG_MEL = _LOG_HZ / _HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0               # above 1 kHz, 27 mels per factor 6.4 in frequency


def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: ``m = 3 f / 200`` below 1 kHz, ``m = 15 + 27 · ln(f / 1000) / ln 6.4`` above."""
    return torch.where(f >= _LOG_HZ, _LOG_MEL + torch.log(f.clamp(min=1e-10) / _LOG_HZ) / _LOG_STEP,
                       f / _HZ_PER_MEL)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`hz_to_mel`."""
    return torch.where(m >= _LOG_MEL, _LOG_HZ * torch.exp(_LOG_STEP * (m - _LOG_MEL)), _HZ_PER_MEL * m)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular mel filters ``M (n_mels, n_fft/2 + 1)`` in float64, as ``librosa.filters.mel(norm="slaney")``.

    Filter ``i`` rises from edge ``f_i`` to ``f_{i+1}`` and falls to ``f_{i+2}`` (the ``n_mels + 2`` edges evenly
    spaced in mel from ``f_min`` to ``f_max``) and is scaled by ``2 / (f_{i+2} − f_i)`` so each has unit area.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)              # (K,)
    mel_lo, mel_hi = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    edges = mel_to_hz(torch.linspace(float(mel_lo), float(mel_hi), n_mels + 2, dtype=torch.float64))  # (n_mels+2,)
    gaps = edges.diff()                                                                          # (n_mels+1,)
    ramps = edges[:, None] - fft_hz[None, :]                                                     # (n_mels+2, K)
    rising = -ramps[:-2] / gaps[:-1, None]
    falling = ramps[2:] / gaps[1:, None]
    weights = torch.minimum(rising, falling).clamp(min=0)                                        # (n_mels, K)
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """The first ``n_out`` rows of the orthonormal DCT-II ``(n_out, n_in)`` in float64:
    ``D[k, n] = s_k cos(π k (2n + 1) / (2 N))``, ``s_0 = sqrt(1/N)``, ``s_k = sqrt(2/N)``."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    D = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    D[0] /= math.sqrt(2.0)
    return D


def frame_mask(frame_lengths: torch.Tensor, T: int) -> torch.Tensor:
    """``(B, T)`` True on each utterance's valid frames ``t < frame_lengths[b]``."""
    return torch.arange(T, device=frame_lengths.device)[None, :] < frame_lengths[:, None]


class FrontEnd(torch.nn.Module):
    """Waveforms ``(B, T)`` → features ``(B, T_frames, F)`` and frame counts ``(B,)``; see the module docstring.

    The mel and DCT matrices are non-persistent buffers: they move with ``.to(device)`` but are rebuilt from the
    config rather than stored in checkpoints. Padded frames of the output are zero.

    Example::

        front = FrontEnd(FrontEndConfig(features="mfcc"))
        feats, n = front(torch.randn(2, 8000) * 0.1, torch.tensor([8000, 4000]))   # (2, 101, 13), [101, 51]
    """

    def __init__(self, config: FrontEndConfig | None = None):
        super().__init__()
        self.config = config = config or FrontEndConfig()
        fb = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max)
        self.register_buffer("mel_fb", fb.float(), persistent=False)                       # (n_mels, n_fft/2 + 1)
        self.register_buffer("window", torch.hann_window(config.win_length, periodic=True), persistent=False)
        if config.features == "mfcc":
            self.register_buffer("dct", dct_matrix(config.n_mfcc, config.n_mels).float(), persistent=False)
        else:
            self.dct = None

    def frames_for(self, num_samples: int) -> int:
        """Frames a wave of ``num_samples`` samples gives alone: ``1 + num_samples // hop_length``."""
        return self.config.frames_for(num_samples)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``wave (T,)`` or ``(B, T)`` float, ``lengths (B,)`` valid samples (None: all ``T``) → ``(B, T_frames, F)``
        features and ``frame_lengths (B,)``. ``generator`` draws the dither (training mode only; None: the global
        RNG)."""
        cfg = self.config
        if not wave.is_floating_point():
            raise TypeError(f"FrontEnd expects a floating-point waveform in [-1, 1], got {wave.dtype}")
        if wave.dim() == 1:
            wave = wave[None]
        if wave.dim() != 2:
            raise ValueError(f"FrontEnd expects a waveform of shape (T,) or (B, T), got {tuple(wave.shape)}")
        B, T = wave.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=wave.device)
        lengths = torch.as_tensor(lengths, device=wave.device).long()
        if lengths.shape != (B,) or bool((lengths < 0).any()) or bool((lengths > T).any()):
            raise ValueError(f"lengths must be (B,) = ({B},) with values in [0, {T}], got {lengths.tolist()}")
        valid = torch.arange(T, device=wave.device)[None, :] < lengths[:, None]               # (B, T)
        x = wave
        if self.training and cfg.dither > 0:
            eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + (cfg.dither / 32768.0) * eps
        if cfg.preemphasis > 0:
            x = torch.cat([x[:, :1], x[:, 1:] - cfg.preemphasis * x[:, :-1]], dim=1)           # y[t] = x[t] − a x[t−1]
        x = torch.where(valid, x, torch.zeros((), dtype=x.dtype, device=x.device))            # padding is silence
        window = self.window.to(x.dtype)
        spec = torch.stft(x, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window,
                          center=True, pad_mode="constant", return_complex=True)              # (B, n_fft/2+1, T_f)
        power = spec.real ** 2 + spec.imag ** 2                                                # P = |STFT|²
        feats = torch.log(torch.matmul(self.mel_fb.to(x.dtype), power) + LOG_FLOOR).transpose(1, 2)  # (B, T_f, n_mels)
        if self.dct is not None:
            feats = feats @ self.dct.to(x.dtype).T                                             # (B, T_f, n_mfcc)
        frame_lengths = 1 + lengths // cfg.hop_length
        return feats * frame_mask(frame_lengths, feats.shape[1])[..., None], frame_lengths


NORMALIZER_MODES = ("utterance", "global", "none")


class Normalizer:
    """Per-feature mean and variance normalisation of ``(B, T, F)`` features over their valid frames.

    ``"utterance"``: each utterance's own ``μ_b, σ_b`` over its frames ``t < frame_lengths[b]``;
    ``"global"``: ``μ, σ`` learned by :meth:`fit` on training features; ``"none"`` leaves them as they are.
    Then ``x̂ = (x − μ) / max(σ, eps)``
    (σ the population standard deviation); padded frames stay zero.

    Example::

        norm = Normalizer("global").fit(f for f, _ in train_features)   # each f (T, F)
        json.dump(norm.to_dict(), fh); norm = Normalizer.from_dict(json.load(fh))
        feats = norm.apply(feats, frame_lengths)
    """

    def __init__(self, mode: str = "utterance", mean=None, std=None, eps: float = 1e-5):
        if mode not in NORMALIZER_MODES:
            raise RnnkitError(f"normaliser: mode must be one of {', '.join(NORMALIZER_MODES)}, got {mode!r}")
        self.mode, self.eps = mode, float(eps)
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float64)   # (F,)
        self.std = None if std is None else torch.as_tensor(std, dtype=torch.float64)      # (F,)

    def fit(self, features: Iterable[torch.Tensor]) -> Normalizer:
        """Learn ``μ, σ`` per feature from ``(T, F)`` tensors, merging per-tensor moments in float64
        (Chan et al.'s pairwise update, stable where ``E[x²] − E[x]²`` is not)."""
        if self.mode != "global":
            raise RnnkitError("normaliser: fit() is for mode 'global'; 'utterance' needs no training statistics")
        n, mean, m2 = 0, None, None
        for f in features:
            f = torch.as_tensor(f).detach().to("cpu", torch.float64)
            if f.dim() != 2 or f.shape[0] == 0:
                raise ValueError(f"fit expects (T, F) tensors with T >= 1, got {tuple(f.shape)}")
            n_b, mean_b = f.shape[0], f.mean(0)
            m2_b = ((f - mean_b) ** 2).sum(0)
            if mean is None:
                n, mean, m2 = n_b, mean_b, m2_b
                continue
            if mean_b.shape != mean.shape:
                raise ValueError(f"fit: feature size changed from {mean.shape[0]} to {mean_b.shape[0]}")
            delta, total = mean_b - mean, n + n_b
            mean = mean + delta * (n_b / total)
            m2 = m2 + m2_b + delta ** 2 * (n * n_b / total)
            n = total
        if mean is None:
            raise RnnkitError("normaliser: fit() got no features; is the training set empty?")
        self.mean, self.std = mean, (m2 / n).sqrt()
        return self

    def apply(self, features: torch.Tensor, frame_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``features (B, T, F)`` (or one ``(T, F)``), ``frame_lengths (B,)`` (None: all ``T``) → normalised, same
        shape and dtype, zero on padded frames."""
        single = features.dim() == 2
        x = features[None] if single else features
        B, T, F = x.shape
        if frame_lengths is None:
            frame_lengths = torch.full((B,), T, dtype=torch.long, device=x.device)
        mask = frame_mask(torch.as_tensor(frame_lengths, device=x.device), T)[..., None]        # (B, T, 1)
        if self.mode == "none":
            out = x * mask
            return out[0] if single else out
        if self.mode == "global":
            if self.mean is None:
                raise RnnkitError("normaliser: mode 'global' needs fit() on training features (or from_dict) first")
            if self.mean.shape[0] != F:
                raise RnnkitError(f"normaliser: fitted on {self.mean.shape[0]} features per frame, got {F}; "
                                  f"refit it for this front end")
            mean = self.mean.to(x.device, x.dtype)                                             # (F,)
            std = self.std.to(x.device, x.dtype)
        else:
            count = mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)                         # (B, 1, 1)
            mean = (x * mask).sum(1, keepdim=True) / count                                     # (B, 1, F)
            std = ((((x - mean) * mask) ** 2).sum(1, keepdim=True) / count).sqrt()
        out = (x - mean) / std.clamp(min=self.eps) * mask
        return out[0] if single else out

    def to_dict(self) -> dict:
        """``{"mode", "eps", "mean", "std"}`` with plain lists (JSON-able; ``torch.tensor`` them for safetensors)."""
        return {"mode": self.mode, "eps": self.eps,
                "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        unknown = sorted(set(d) - {"mode", "eps", "mean", "std"})
        if unknown:
            raise RnnkitError(f"normaliser: unknown field(s) {', '.join(unknown)}; known are eps, mean, mode, std")
        return cls(d.get("mode", "utterance"), d.get("mean"), d.get("std"), d.get("eps", 1e-5))
