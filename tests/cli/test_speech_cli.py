"""``rnnkit speech train | eval | transcribe`` end to end on a few generated WAV files, and every bad input: one
line naming the file, exit status 2."""

from __future__ import annotations

import json
import math

import pytest
import torch

pytest.importorskip("soundfile")
pytest.importorskip("jiwer")

from rnnkit.audio import read_wav, write_wav  # noqa: E402

RATE = 8000
TONES = {"a": 440.0, "b": 880.0, "c": 1320.0}
SMALL = ["--hidden", "8", "--layers", "1", "--batch-size", "4", "--steps", "6", "--eval-every", "3",
         "--save-every", "3", "--log-every", "1", "--quiet", "--seed", "3"]


def _utterance(text: str, seed: int) -> torch.Tensor:
    """Each letter a 0.12 s tone of its own pitch, silence between (a word of tones, nothing like speech)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(0.12 * RATE)) / RATE
    parts = [torch.zeros(400)]
    for ch in text:
        if ch == " ":
            parts.append(torch.zeros(600))
            continue
        parts += [0.3 * torch.sin(2 * math.pi * TONES[ch] * t), torch.zeros(200)]
    wave = torch.cat(parts)
    return wave + 0.01 * torch.randn(wave.shape, generator=g)


def _manifest(folder, name, texts, start=0, header="path\ttranscript"):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [header]
    for k, text in enumerate(texts):
        write_wav(folder / f"{name}-{k}.wav", _utterance(text, start + k), RATE)
        rows.append(f"{name}-{k}.wav\t{text}")
    path = folder / f"{name}.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


TEXTS = ["ab", "ba", "abc", "cab", "a b", "c a", "bc", "ca"]


@pytest.fixture
def data(tmp_path):
    return (_manifest(tmp_path / "d", "train", TEXTS * 2), _manifest(tmp_path / "d", "valid", TEXTS[:4], 100))


@pytest.fixture
def trained(tmp_path, data, rnnkit):
    train, valid = data
    code, out, err = rnnkit("speech", "train", "--data", train, "--valid", valid, "--out", tmp_path / "run", *SMALL)
    assert code == 0, err
    return tmp_path / "run"


def test_train_eval_transcribe_end_to_end(tmp_path, trained, data, rnnkit):
    run = trained
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "speech" and config["data"]["sample_rate"] == RATE
    assert config["data"]["front_end"]["n_mels"] == 40 and config["data"]["units"] == "char"
    assert (run / "model.safetensors").exists() and (run / "vocab.json").exists()
    words = dict(line.split("\t") for line in (run / "words.txt").read_text().splitlines())
    assert words == {"a": "4", "ab": "2", "abc": "2", "b": "2", "ba": "2", "bc": "2", "c": "2", "ca": "2", "cab": "2"}
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("valid_wer" in r and "valid_cer" in r for r in records)

    code, out, err = rnnkit("speech", "eval", run, "--data", data[1], "--json", "--output", tmp_path / "o.tsv")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert {"cer", "wer"} <= set(result) and 0 <= result["cer"] and result["utterances"] == 4
    assert len((tmp_path / "o.tsv").read_text().splitlines()) == 4

    code, out, err = rnnkit("speech", "eval", run, "--data", data[1], "--lexicon", "train", "--json")
    assert code == 0, err
    assert {"cer", "wer"} <= set(json.loads(out.strip().splitlines()[-1]))

    wavs = [data[1].parent / "valid-0.wav", data[1].parent / "valid-1.wav"]
    code, out, err = rnnkit("speech", "transcribe", run, *wavs)
    assert code == 0, err
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["path"] for r in rows] == [str(w) for w in wavs]
    for r in rows:
        assert isinstance(r["text"], str) and isinstance(r["words"], list)
        assert all(0 <= w["start"] <= w["end"] for w in r["words"])


def test_other_rates_and_stereo_are_converted(tmp_path, trained, rnnkit):
    import soundfile

    wave = _utterance("ab", 7)
    t16 = torch.nn.functional.interpolate(wave.view(1, 1, -1), scale_factor=2, mode="linear")[0, 0]
    soundfile.write(tmp_path / "s.wav", torch.stack([t16, t16], 1).numpy(), 16000, subtype="PCM_16")
    assert read_wav(tmp_path / "s.wav")[1] == 16000
    code, out, err = rnnkit("speech", "transcribe", trained, tmp_path / "s.wav")
    assert code == 0, err
    assert "text" in json.loads(out)


def _one_line_error(code, err, *needles):
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_bad_training_input_is_a_clear_error(tmp_path, data, rnnkit):
    train, valid = data
    d = tmp_path / "bad"
    d.mkdir()
    cases = {}
    (d / "missing.tsv").write_text("path\ttranscript\nnope.wav\tab\n")
    cases["missing"] = (d / "missing.tsv", ["nope.wav", "missing.tsv:2"])
    (d / "text.wav").write_text("not audio at all")
    (d / "notwav.tsv").write_text("path\ttranscript\ntext.wav\tab\n")
    cases["notwav"] = (d / "notwav.tsv", ["text.wav"])
    write_wav(d / "silent.wav", torch.zeros(4000), RATE)
    (d / "silent.tsv").write_text(f"path\ttranscript\n{train.parent / 'train-0.wav'}\tab\nsilent.wav\tab\n")
    cases["silent"] = (d / "silent.tsv", ["silent.wav", "silent"])
    write_wav(d / "short.wav", 0.3 * torch.randn(100), RATE)
    (d / "short.tsv").write_text("path\ttranscript\nshort.wav\tabcabc\n")
    cases["short"] = (d / "short.tsv", ["short.wav", "output frames"])
    (d / "nocol.tsv").write_text("file\ttext\nshort.wav\tab\n")
    cases["columns"] = (d / "nocol.tsv", ["'path'", "--path-column"])
    (d / "empty.tsv").write_text("path\ttranscript\nshort.wav\t\n")
    cases["empty transcript"] = (d / "empty.tsv", ["empty.tsv:2", "transcript"])
    for name, (manifest, needles) in cases.items():
        code, out, err = rnnkit("speech", "train", "--data", manifest, "--valid", valid, "--out", d / f"r-{name}",
                                *SMALL)
        _one_line_error(code, err, *needles)
        assert not (d / f"r-{name}").exists(), name                 # bad input leaves no half-made run
    code, out, err = rnnkit("speech", "train", "--data", train.parent / "train-0.wav", "--out", d / "w", *SMALL)
    _one_line_error(code, err, "a WAV file, not a manifest")


def test_bad_input_to_a_trained_run(tmp_path, trained, rnnkit):
    d = tmp_path / "use"
    d.mkdir()
    code, out, err = rnnkit("speech", "transcribe", trained, d / "gone.wav")
    _one_line_error(code, err, "gone.wav")
    (d / "x.wav").write_bytes(b"RIFF0000WAVEjunk")
    code, out, err = rnnkit("speech", "transcribe", trained, d / "x.wav")
    _one_line_error(code, err, "x.wav")
    code, out, err = rnnkit("speech", "eval", trained, "--data", d / "none.tsv", "--lexicon", d / "no-such-list")
    assert code == 2
    # A transcript with a character the model has no symbol for: scored (all wrong there), not a crash.
    other = _manifest(d, "odd", ["ab", "ab"], 50)
    other.write_text(other.read_text().replace("odd-1.wav\tab", "odd-1.wav\tab!"))
    with pytest.warns(UserWarning, match="no symbol for"):
        code, out, err = rnnkit("speech", "eval", trained, "--data", other, "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["utterances"] == 2


def test_a_transcript_too_long_for_its_clip_is_scored_not_a_nan(tmp_path, trained, rnnkit):
    write_wav(tmp_path / "short.wav", 0.3 * torch.randn(300), RATE)
    (tmp_path / "m.tsv").write_text("path\ttranscript\nshort.wav\tabcabcabcabc\n")
    code, out, err = rnnkit("speech", "eval", trained, "--data", tmp_path / "m.tsv", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1], parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert result["loss"] is None and result["wer"] > 0


def test_silence_transcribes_to_nothing_rather_than_failing(tmp_path, trained, rnnkit):
    write_wav(tmp_path / "quiet.wav", torch.zeros(4000), RATE)
    code, out, err = rnnkit("speech", "transcribe", trained, tmp_path / "quiet.wav")
    assert code == 0, err
    assert isinstance(json.loads(out)["text"], str)
