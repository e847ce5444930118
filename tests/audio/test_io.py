import math
import sys

import numpy as np
import pytest
import torch

import rnnkit.audio.io as audio_io
from rnnkit.audio import read_wav, resample, write_wav
from rnnkit.errors import RnnkitError

wavfile = pytest.importorskip("scipy.io.wavfile")


def peak_hz(wave: torch.Tensor, rate: int) -> float:
    """The frequency of the largest bin of a Hann-windowed FFT."""
    spectrum = torch.fft.rfft(wave.double() * torch.hann_window(wave.shape[-1], dtype=torch.float64)).abs()
    return float(spectrum.argmax()) * rate / wave.shape[-1]


def sine(freq: float, rate: int, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(rate * seconds), dtype=torch.float64) / rate
    return torch.sin(2 * math.pi * freq * t).float()


@pytest.fixture(params=["soundfile", "scipy"])
def backend(request, monkeypatch):
    """A read/write test runs soundfile and with the scipy fallback used when soundfile cannot be imported."""
    if request.param == "soundfile":
        pytest.importorskip("soundfile")
    else:
        monkeypatch.setitem(sys.modules, "soundfile", None)   # `import soundfile` now raises ImportError
    return request.param


def test_the_backend_is_the_one_asked_for(backend):
    assert audio_io._backend()[0] == backend


def test_no_backend_says_what_to_install(monkeypatch, tmp_path):
    wavfile.write(tmp_path / "a.wav", 8000, np.zeros(10, dtype=np.int16))
    monkeypatch.setitem(sys.modules, "soundfile", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(RnnkitError, match=r"pip install 'rnnkit\[speech\]'"):
        read_wav(tmp_path / "a.wav")


# --- read_wav ----------------------------------------------------------------------------------------------

def test_read_mono_int16_is_scaled_by_32768(tmp_path, backend):
    pcm = np.array([0, 1, -1, 16384, -32768, 32767], dtype=np.int16)
    wavfile.write(tmp_path / "a.wav", 8000, pcm)
    wave, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and wave.dtype == torch.float32 and wave.shape == (6,)
    torch.testing.assert_close(wave, torch.from_numpy(pcm.astype(np.float32) / 32768), rtol=0, atol=0)


def test_read_stereo_averages_the_channels(tmp_path, backend):
    left = np.array([1000, -2000, 3000, 0], dtype=np.int16)
    right = np.array([3000, 2000, -3000, 32767], dtype=np.int16)
    wavfile.write(tmp_path / "s.wav", 16000, np.stack([left, right], axis=1))   # (T, C)
    wave, rate = read_wav(tmp_path / "s.wav")
    assert rate == 16000 and wave.shape == (4,)
    want = (left.astype(np.float32) + right.astype(np.float32)) / 2 / 32768
    torch.testing.assert_close(wave, torch.from_numpy(want), rtol=0, atol=1e-7)


def test_write_then_read_gives_back_the_16_bit_samples(tmp_path, backend):
    wave = torch.tensor([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 1 / 32768, 0.123456])
    write_wav(tmp_path / "w.wav", wave, 8000)
    back, rate = read_wav(tmp_path / "w.wav")
    assert rate == 8000
    want = torch.tensor([0, 16384, -16384, 32767, -32768, 32767, 1, round(0.123456 * 32768)]) / 32768
    torch.testing.assert_close(back, want.float(), rtol=0, atol=0)
    rate_s, pcm = wavfile.read(tmp_path / "w.wav")          # a plain 16-bit PCM WAV to another reader
    assert rate_s == 8000 and pcm.dtype == np.int16
    assert [p.name for p in tmp_path.iterdir()] == ["w.wav"]  # no temporary file left behind


def test_write_replaces_an_existing_file(tmp_path, backend):
    write_wav(tmp_path / "w.wav", torch.zeros(100), 8000)
    write_wav(tmp_path / "w.wav", torch.full((7,), 0.25), 16000)
    back, rate = read_wav(tmp_path / "w.wav")
    assert rate == 16000 and back.shape == (7,) and bool((back == 0.25).all())


def test_write_into_a_missing_folder_is_a_clear_error(tmp_path, backend):
    with pytest.raises(RnnkitError, match="does not exist"):
        write_wav(tmp_path / "no" / "w.wav", torch.zeros(3), 8000)


def test_missing_file_is_a_clear_error(tmp_path, backend):
    with pytest.raises(RnnkitError, match="nope.wav.*not found"):
        read_wav(tmp_path / "nope.wav")


def test_not_a_wav_is_a_clear_error(tmp_path, backend):
    path = tmp_path / "text.wav"
    path.write_text("this is not audio\n" * 10)
    with pytest.raises(RnnkitError, match="text.wav.*cannot read") as info:
        read_wav(path)
    assert "\n" not in str(info.value)


def test_empty_wav_is_a_clear_error(tmp_path, backend):
    wavfile.write(tmp_path / "empty.wav", 8000, np.zeros(0, dtype=np.int16))
    with pytest.raises(RnnkitError, match="empty.wav.*no samples"):
        read_wav(tmp_path / "empty.wav")


def test_zero_byte_file_is_a_clear_error(tmp_path, backend):
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(RnnkitError, match="zero.wav"):
        read_wav(tmp_path / "zero.wav")


# --- resample ----------------------------------------------------------------------------------------------

def test_resample_equal_rates_is_identity():
    wave = torch.randn(123)
    assert resample(wave, 8000, 8000) is wave


@pytest.mark.parametrize("from_rate,to_rate,freq", [(8000, 16000, 440.0), (16000, 8000, 1000.0),
                                                    (8000, 16000, 3000.0), (16000, 8000, 3000.0)])
def test_resample_keeps_a_sine_frequency_and_scales_the_length(from_rate, to_rate, freq):
    wave = sine(freq, from_rate)
    out = resample(wave, from_rate, to_rate)
    assert out.shape == (math.ceil(wave.shape[0] * to_rate / from_rate),)
    assert abs(peak_hz(out, to_rate) - freq) <= to_rate / out.shape[0]   # within one FFT bin
    # the interior matches the sine sampled at the new rate (the edges see the zero padding)
    want = sine(freq, to_rate)[: out.shape[0]]
    inner = slice(out.shape[0] // 10, -out.shape[0] // 10)
    torch.testing.assert_close(out[inner], want[inner], rtol=0, atol=2e-3)


def test_resample_down_removes_what_the_new_rate_cannot_hold():
    wave = sine(440.0, 16000) + sine(6000.0, 16000)     # 6 kHz is above the 4 kHz Nyquist frequency of 8 kHz
    out = resample(wave, 16000, 8000)
    inner = out[400:-400]
    want = sine(440.0, 8000)[400:out.shape[0] - 400]
    torch.testing.assert_close(inner, want, rtol=0, atol=2e-3)   # no alias at 8000 − 6000 = 2000 Hz


def test_resample_a_batch_equals_each_row_and_keeps_dtype():
    waves = torch.randn(3, 1001, dtype=torch.float64)
    out = resample(waves, 8000, 11025)
    assert out.dtype == torch.float64 and out.shape == (3, math.ceil(1001 * 11025 / 8000))
    for b in range(3):
        torch.testing.assert_close(out[b], resample(waves[b], 8000, 11025), rtol=0, atol=1e-12)


def test_resample_rejects_a_bad_rate():
    with pytest.raises(RnnkitError, match="from_rate"):
        resample(torch.zeros(10), 0, 8000)
