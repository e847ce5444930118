import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.audio import FrontEnd, FrontEndConfig, Normalizer, read_wav
from rnnkit.audio.features import LOG_FLOOR, mel_filterbank
from rnnkit.errors import RnnkitError

FSDD = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"


def fsdd_wave() -> torch.Tensor:
    files = sorted(FSDD.glob("*.wav")) if FSDD.is_dir() else []
    if not files:
        pytest.skip(f"the Free Spoken Digit Dataset is not at {FSDD}")
    wave, rate = read_wav(files[0])
    assert rate == 8000
    return wave


def chirp_wave(rate: int = 8000, seconds: float = 0.73) -> torch.Tensor:
    """A linear chirp from 100 Hz to 3.9 kHz with a little noise (so no mel bin is empty)."""
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * (100 * t + (3900 - 100) / (2 * seconds) * t ** 2)
    noise = np.random.default_rng(0).standard_normal(t.shape)
    return torch.from_numpy(0.5 * np.sin(phase) + 1e-3 * noise).float()


def librosa_log_mel(wave: torch.Tensor, cfg: FrontEndConfig) -> np.ndarray:
    """The reference: numpy pre-emphasis, then librosa's mel spectrogram with the same framing, then the log."""
    librosa = pytest.importorskip("librosa")
    x = wave.double().numpy()
    y = np.concatenate([x[:1], x[1:] - cfg.preemphasis * x[:-1]])
    mel = librosa.feature.melspectrogram(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                         win_length=cfg.win_length, window="hann", center=True,
                                         pad_mode="constant", power=2.0, n_mels=cfg.n_mels, fmin=cfg.f_min,
                                         fmax=cfg.f_max, htk=False, norm="slaney")
    return np.log(mel + LOG_FLOOR).T                                                      # (T_frames, n_mels)


# --- the mel filterbank ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", [(8000, 256, 40, 0.0, None), (8000, 256, 23, 20.0, 3800.0),
                                                       (16000, 512, 80, 0.0, 7600.0)])
def test_mel_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    want = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney",
                               dtype=np.float64)
    got = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    assert got.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-14)


# --- log-mel and MFCC against librosa and scipy -----------------------------------------------------------

@pytest.mark.parametrize("source", ["fsdd", "chirp"])
def test_log_mel_equals_librosa(source):
    wave = fsdd_wave() if source == "fsdd" else chirp_wave()
    cfg = FrontEndConfig()
    want = librosa_log_mel(wave, cfg)
    feats, n = FrontEnd(cfg)(wave.double())
    assert feats.shape == (1, *want.shape) and n.tolist() == [want.shape[0]]
    np.testing.assert_allclose(feats[0].numpy(), want, rtol=1e-4, atol=1e-6)
    feats32, _ = FrontEnd(cfg)(wave)                         # the float32 path, as in training
    assert feats32.dtype == torch.float32
    np.testing.assert_allclose(feats32[0].numpy(), want, rtol=1e-4, atol=1e-3)


def test_log_mel_with_band_limits_and_no_preemphasis_equals_librosa():
    wave = chirp_wave()
    cfg = FrontEndConfig(n_mels=24, f_min=50.0, f_max=3500.0, preemphasis=0.0, win_ms=20.0, hop_ms=12.5)
    feats, _ = FrontEnd(cfg)(wave.double())
    np.testing.assert_allclose(feats[0].numpy(), librosa_log_mel(wave, cfg), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("source", ["fsdd", "chirp"])
def test_mfcc_is_the_orthonormal_dct_of_librosa_log_mel(source):
    scipy_fft = pytest.importorskip("scipy.fft")
    wave = fsdd_wave() if source == "fsdd" else chirp_wave()
    cfg = FrontEndConfig(features="mfcc")
    want = scipy_fft.dct(librosa_log_mel(wave, cfg), type=2, norm="ortho", axis=1)[:, :cfg.n_mfcc]
    feats, _ = FrontEnd(cfg)(wave.double())
    assert feats.shape == (1, want.shape[0], 13)
    np.testing.assert_allclose(feats[0].numpy(), want, rtol=1e-4, atol=1e-4)


# --- framing and padding ----------------------------------------------------------------------------------

@pytest.mark.parametrize("num_samples", [1, 79, 80, 81, 255, 256, 1000, 8000])
def test_frames_for_counts_the_frames_of_a_wave_alone(num_samples):
    front = FrontEnd()
    feats, n = front(torch.randn(num_samples) * 0.1)
    assert feats.shape[1] == n.item() == front.frames_for(num_samples) == 1 + num_samples // 80


def test_padded_batch_gives_each_utterance_its_features_alone():
    for features in ("fbank", "mfcc"):
        front = FrontEnd(FrontEndConfig(features=features))
        lengths = [1234, 8000, 81, 4567]
        waves = [torch.randn(n, dtype=torch.float64) * 0.3 for n in lengths]
        batch = torch.full((4, max(lengths)), 0.7, dtype=torch.float64)   # padding that is not silence
        for b, w in enumerate(waves):
            batch[b, :w.shape[0]] = w
        feats, n = front(batch, torch.tensor(lengths))
        assert feats.shape == (4, front.frames_for(8000), front.config.num_features)
        assert n.tolist() == [front.frames_for(k) for k in lengths]
        for b, w in enumerate(waves):
            alone, n_alone = front(w)
            assert n_alone.item() == n[b].item()
            torch.testing.assert_close(feats[b, :n[b]], alone[0], rtol=0, atol=1e-10)
            assert bool((feats[b, n[b]:] == 0).all())


def test_buffers_follow_the_module_but_are_not_checkpointed():
    front = FrontEnd(FrontEndConfig(features="mfcc"))
    assert {name for name, _ in front.named_buffers()} == {"mel_fb", "window", "dct"}
    assert front.state_dict() == {}
    front = front.to(torch.float64)
    assert front.mel_fb.dtype == torch.float64


def test_dither_only_in_training_and_only_from_the_generator():
    front = FrontEnd(FrontEndConfig(dither=1.0))
    wave = chirp_wave()
    clean, _ = front.eval()(wave)
    torch.testing.assert_close(clean, FrontEnd()(wave)[0], rtol=0, atol=0)
    front.train()
    rng_state = torch.get_rng_state()
    a, _ = front(wave, generator=torch.Generator().manual_seed(1))
    b, _ = front(wave, generator=torch.Generator().manual_seed(1))
    c, _ = front(wave, generator=torch.Generator().manual_seed(2))
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, clean)


# --- the config ---------------------------------------------------------------------------------------------

def test_config_defaults_in_samples():
    cfg = FrontEndConfig()
    assert (cfg.hop_length, cfg.win_length, cfg.n_fft, cfg.num_features) == (80, 200, 256, 40)
    assert FrontEndConfig(features="mfcc").num_features == 13
    assert FrontEndConfig(sample_rate=16000, win_ms=32.0).n_fft == 512


def test_config_round_trips_through_json():
    cfg = FrontEndConfig(features="mfcc", n_mels=30, f_max=3600.0, dither=0.5)
    assert FrontEndConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert FrontEndConfig.from_dict({}) == FrontEndConfig()


@pytest.mark.parametrize("bad,match", [({"features": "mel"}, "fbank, mfcc"), ({"f_max": 5000.0}, "Nyquist"),
                                       ({"features": "mfcc", "n_mfcc": 41}, "n_mfcc"),
                                       ({"preemphasis": 1.0}, "preemphasis"), ({"hop_ms": 0.01}, "hop_ms")])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(RnnkitError, match=match):
        FrontEndConfig(**bad)


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(RnnkitError, match="n_mel"):
        FrontEndConfig.from_dict({"n_mel": 40})


# --- normalisation ----------------------------------------------------------------------------------------

def padded(utterances):
    """Pad ``(T_b, F)`` tensors into ``(B, T, F)`` with junk (not zeros) beyond each length."""
    lengths = torch.tensor([u.shape[0] for u in utterances])
    batch = torch.full((len(utterances), int(lengths.max()), utterances[0].shape[1]), 9.0, dtype=torch.float64)
    for b, u in enumerate(utterances):
        batch[b, :u.shape[0]] = u
    return batch, lengths


def test_utterance_normalisation_uses_only_valid_frames():
    utterances = [torch.randn(n, 5, dtype=torch.float64) * 3 + 2 for n in (17, 40, 6)]
    batch, lengths = padded(utterances)
    out = Normalizer("utterance").apply(batch, lengths)
    for b, u in enumerate(utterances):
        n = u.shape[0]
        torch.testing.assert_close(out[b, :n].mean(0), torch.zeros(5, dtype=torch.float64), rtol=0, atol=1e-12)
        torch.testing.assert_close(out[b, :n].std(0, unbiased=False), torch.ones(5, dtype=torch.float64))
        torch.testing.assert_close(out[b, :n], Normalizer("utterance").apply(u), rtol=0, atol=1e-12)
        assert bool((out[b, n:] == 0).all())


def test_global_normalisation_fits_mean_and_std_and_round_trips_through_json():
    utterances = [torch.randn(n, 4, dtype=torch.float32) * 2 - 7 for n in (10, 33, 21)]
    norm = Normalizer("global").fit(iter(utterances))
    every = torch.cat(utterances).double()
    torch.testing.assert_close(norm.mean, every.mean(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(norm.std, every.std(0, unbiased=False), rtol=0, atol=1e-12)
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    batch, lengths = padded([u.double() for u in utterances])
    out = norm.apply(batch, lengths)
    torch.testing.assert_close(again.apply(batch, lengths), out, rtol=0, atol=0)
    valid = torch.cat([out[b, :n] for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(valid.mean(0), torch.zeros(4, dtype=torch.float64), rtol=0, atol=1e-12)
    assert bool((out[0, 10:] == 0).all())


def test_global_normalisation_errors():
    with pytest.raises(RnnkitError, match="fit"):
        Normalizer("global").apply(torch.zeros(1, 3, 4))
    with pytest.raises(RnnkitError, match="refit"):
        Normalizer("global").fit([torch.randn(5, 4)]).apply(torch.zeros(1, 3, 40))
    with pytest.raises(RnnkitError, match="no features"):
        Normalizer("global").fit([])
    with pytest.raises(RnnkitError, match="utterance, global"):
        Normalizer("speaker")


def test_front_end_then_normaliser_on_a_padded_batch_matches_alone():
    front, norm = FrontEnd(), Normalizer("utterance")
    waves = [chirp_wave(seconds=s).double() for s in (0.31, 0.73)]
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
    feats, n = front(batch, torch.tensor([w.shape[0] for w in waves]))
    out = norm.apply(feats, n)
    for b, w in enumerate(waves):
        alone = norm.apply(*front(w))
        torch.testing.assert_close(out[b, :n[b]], alone[0], rtol=0, atol=1e-9)
    assert math.isclose(float(out[0, :n[0]].std(0, unbiased=False).mean()), 1.0, rel_tol=1e-6)
