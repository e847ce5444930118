"""Reading, writing and resampling waveforms.

A waveform is a float tensor ``(T,)`` of samples in [-1, 1] (16-bit PCM ``s`` reads as ``s / 32768``); a batch
is ``(B, T)``. Files are read with ``soundfile`` (``pip install 'rnnkit[speech]'``) or, where it is missing,
``scipy.io.wavfile``; both are imported only when a file is read or written, so ``import rnnkit`` stays light.

Shapes: ``T`` samples, ``B`` batch, ``...`` any leading dimensions.

Example::

    wave, rate = read_wav("recordings/0_george_0.wav")   # (T,), 8000
    wave16 = resample(wave, rate, 16000)                  # (2·T,)
    write_wav("out.wav", wave16, 16000)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open

PCM16_SCALE = 32768.0  # s_int16 = round(32768 · x), read back as s_int16 / 32768
_INSTALL = "pip install 'rnnkit[speech]'"


def _backend():
    """``("soundfile", module)`` or ``("scipy", scipy.io.wavfile)``; neither is a clear error."""
    try:
        import soundfile
        return "soundfile", soundfile
    except (ImportError, OSError):  # OSError: the Python package is there but libsndfile is not
        pass
    try:
        from scipy.io import wavfile
        return "scipy", wavfile
    except ImportError:
        raise RnnkitError(f"reading and writing WAV files needs soundfile: {_INSTALL}") from None


def _pcm_to_float(data: np.ndarray) -> np.ndarray:
    """Integer PCM from ``scipy.io.wavfile`` to float32 in [-1, 1], scaled as soundfile scales it."""
    if data.dtype == np.uint8:                       # 8-bit WAV is unsigned, centred on 128
        return (data.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    return data.astype(np.float32)


def read_wav(path: str | Path) -> tuple[torch.Tensor, int]:
    """Read an audio file as a float32 mono waveform ``(T,)`` in [-1, 1] and its sample rate.

    Channels are averaged: ``x[t] = (1/C) Σ_c x_c[t]``. A missing, unreadable or empty file raises
    :class:`~rnnkit.errors.RnnkitError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise RnnkitError(f"{path}: audio file not found; check the path (or the data directory)")
    if not path.is_file():
        raise RnnkitError(f"{path}: is not a file; give the path of a .wav file")
    name, backend = _backend()
    try:
        if name == "soundfile":
            data, rate = backend.read(str(path), dtype="float32", always_2d=True)   # (T, C)
        else:
            rate, data = backend.read(str(path))                                     # (T,) or (T, C)
            data = _pcm_to_float(np.asarray(data))
    except Exception as e:  # any decoder failure is the file's fault, reported as one line
        reason = " ".join(str(e).split()) or type(e).__name__
        raise RnnkitError(f"{path}: cannot read it as a WAV file ({reason}); re-encode it as 16-bit PCM WAV "
                          f"(e.g. ffmpeg -i in -ac 1 -c:a pcm_s16le out.wav) or remove it") from None
    if data.ndim == 2:
        data = data.mean(axis=1) if data.shape[1] > 0 else data[:, :0].reshape(-1)
    if data.size == 0:
        raise RnnkitError(f"{path}: the WAV file holds no samples; re-record it or remove it from the data set")
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)), int(rate)


def write_wav(path: str | Path, wave: torch.Tensor, rate: int) -> None:
    """Write a mono waveform ``(T,)`` in [-1, 1] as 16-bit PCM WAV, atomically.

    ``s[t] = clip(round(32768 · x[t]), -32768, 32767)``, so :func:`read_wav` gives back ``s[t] / 32768``
    exactly. The file goes to a temporary name in the same folder and is renamed over ``path`` when complete.
    """
    wave = torch.as_tensor(wave)
    if wave.dim() != 1:
        raise ValueError(f"write_wav expects a mono waveform of shape (T,), got {tuple(wave.shape)}")
    if int(rate) != rate or rate <= 0:
        raise RnnkitError(f"{path}: sample rate must be a positive integer, got {rate!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise RnnkitError(f"{path}: the folder {path.parent} does not exist; create it first")
    x = wave.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: the waveform holds NaN or infinite samples; nothing was written")
    pcm = np.clip(np.round(x * PCM16_SCALE), -32768, 32767).astype(np.int16)
    name, backend = _backend()
    with atomic_open(path, "wb") as f:
        if name == "soundfile":
            backend.write(f, pcm, int(rate), subtype="PCM_16", format="WAV")
        else:
            backend.write(f, int(rate), pcm)


def _sinc_kernels(orig: int, new: int, width_zeros: int, rolloff: float, dtype, device) -> tuple[torch.Tensor, int]:
    """The ``new`` polyphase filters ``(new, K)`` of a windowed-sinc low-pass, and the padding ``w`` (samples).

    Output ``n = m·new + j`` sits at input time ``τ = m·orig + j·orig/new``; its tap ``i`` (``−w ≤ i < w + orig``)
    reads input sample ``m·orig + i``, at distance ``d = i − j·orig/new``. With ``r = rolloff · min(orig, new) / orig``
    (a cut-off of ``r / 2`` cycles per input sample: ``rolloff`` of the lower Nyquist frequency) the tap is
    ``h(d) = r · sinc(r d) · cos²(π r d / (2 width_zeros))`` for ``|r d| ≤ width_zeros`` zero crossings, else 0.
    """
    base = rolloff * min(orig, new)                    # r · orig
    w = math.ceil(width_zeros * orig / base)          # half-width in input samples: r w >= width_zeros
    i = torch.arange(-w, w + orig, dtype=torch.float64, device=device)      # (K,) tap offsets
    j = torch.arange(new, dtype=torch.float64, device=device)[:, None]     # (new, 1) output phases
    t = (i[None, :] - j * orig / new) * base / orig                          # (new, K) r d, in zero crossings
    t = t.clamp(-width_zeros, width_zeros)
    window = torch.cos(t * math.pi / (2 * width_zeros)) ** 2                  # Hann over ±width_zeros
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(math.pi * t) / (math.pi * t))
    return (sinc * window * base / orig).to(dtype), w


def resample(wave: torch.Tensor, from_rate: int, to_rate: int, *, width_zeros: int = 16,
             rolloff: float = 0.95) -> torch.Tensor:
    """Band-limited resampling from ``from_rate`` to ``to_rate`` Hz along the last dimension, in torch.

    ``y[n] = Σ_k x[k] · h(k − n·from_rate/to_rate)``, with ``h`` a Hann-windowed sinc low-pass at
    ``rolloff`` of the lower Nyquist frequency (suppressing aliases and images), computed as ``to/g``
    polyphase filters (``g = gcd``) in one strided ``conv1d``; it runs on the wave's device.

    Shapes: ``wave (..., T)`` → ``(..., ceil(T · to_rate / from_rate))``. Equal rates return ``wave`` itself.
    """
    for name, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if int(rate) != rate or rate <= 0:
            raise RnnkitError(f"resample: {name} must be a positive integer (Hz), got {rate!r}")
    if from_rate == to_rate:
        return wave
    if not wave.is_floating_point():
        raise TypeError(f"resample expects a floating-point waveform, got {wave.dtype}")
    g = math.gcd(int(from_rate), int(to_rate))
    orig, new = int(from_rate) // g, int(to_rate) // g
    kernels, w = _sinc_kernels(orig, new, width_zeros, rolloff, wave.dtype, wave.device)   # (new, K)
    lead, T = wave.shape[:-1], wave.shape[-1]
    x = torch.nn.functional.pad(wave.reshape(-1, 1, T), (w, w + orig))                       # (N, 1, T + 2w + orig)
    y = torch.nn.functional.conv1d(x, kernels[:, None, :], stride=orig)                    # (N, new, ⌊T/orig⌋ + 1)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)                                          # (N, new·(⌊T/orig⌋ + 1))
    return y[:, :math.ceil(T * new / orig)].reshape(*lead, -1)
