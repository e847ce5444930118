"""The spoken-digit data of examples/digits_data.py: leave-one-speaker-out, stratified, reproducible.

Read from the Free Spoken Digit Dataset in ../shared/data/fsdd/recordings; skipped where it is absent.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

soundfile = pytest.importorskip("soundfile")

ROOT = Path(__file__).resolve().parents[2]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
if not FSDD.is_dir():
    pytest.skip(f"the Free Spoken Digit Dataset is not in {FSDD}", allow_module_level=True)


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"rnnkit_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


digits = load_script("digits_data")

SPEAKERS = ["george", "jackson", "nicolas", "theo", "yweweler"]
TEST_SPEAKER = "theo"
SIZES = {"n_train": 16, "n_valid": 8, "n_test": 12}
RATE = 8000


def parse(name):
    """(digit, speaker, index) of an FSDD file name or stem, by hand."""
    digit, speaker, index = Path(name).name.removesuffix(".wav").split("_")
    return int(digit), speaker, int(index)


def rows(path):
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:-1]]


@pytest.fixture(scope="module")
def connected(tmp_path_factory):
    """The same small connected set written twice with seed 3, once with seed 4, and its plan."""
    base = tmp_path_factory.mktemp("connected")
    written = {name: digits.connected_manifests(FSDD, base / name, TEST_SPEAKER, seed=seed, **SIZES)
               for name, seed in (("a", 3), ("b", 3), ("c", 4))}
    plan = digits.connected_plan(FSDD, TEST_SPEAKER, seed=3, **SIZES)
    return base, written, plan


def test_recordings_are_parsed_from_their_names():
    items = digits.recordings(FSDD)
    assert len(items) == 2500
    assert digits.speakers(items) == SPEAKERS == digits.speakers(FSDD)
    assert Counter((r.speaker, r.digit) for r in items) == {(s, d): 50 for s in SPEAKERS for d in range(10)}
    for r in items[::97]:
        assert (r.digit, r.speaker, r.index) == parse(r.path.name) and r.path.is_file()
        assert r.word == digits.WORDS[r.digit] and r.name == r.path.stem
    assert digits.WORDS[7] == "seven" and len(set(digits.WORDS)) == 10


def test_badly_named_and_missing_folders_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        digits.recordings(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no .wav"):
        digits.recordings(tmp_path)
    (tmp_path / "seven_theo_1.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="seven_theo_1.wav"):
        digits.recordings(tmp_path)
    with pytest.raises(ValueError, match="george, jackson"):
        digits.isolated_manifests(FSDD, tmp_path / "out", "nobody")


def test_isolated_leaves_one_speaker_out_and_stratifies(tmp_path):
    written = digits.isolated_manifests(FSDD, tmp_path / "iso", TEST_SPEAKER, valid_fraction=0.1, seed=0)
    assert set(written) == {"train", "valid", "test"}
    assert all(path.read_text(encoding="utf-8").startswith("path\ttranscript\n") for path in written.values())
    names = {}
    for split, path in written.items():
        names[split] = []
        for row in rows(path):
            assert not Path(row["path"]).is_absolute()  # relative to the manifest's folder
            file = (path.parent / row["path"]).resolve()
            assert file.is_file() and file.parent == FSDD.resolve()
            digit, _, _ = parse(file.name)
            assert row["transcript"] == digits.WORDS[digit]
            names[split].append(file.name)
    speakers = {split: Counter(parse(n)[1] for n in split_names) for split, split_names in names.items()}
    assert speakers["test"] == {TEST_SPEAKER: 500}
    assert TEST_SPEAKER not in speakers["train"] and TEST_SPEAKER not in speakers["valid"]
    train, valid = set(names["train"]), set(names["valid"])
    assert not train & valid and len(train) + len(valid) == 2000
    # stratified: of every other speaker's 50 recordings of every digit, 5 for validation
    others = [s for s in SPEAKERS if s != TEST_SPEAKER]
    assert Counter(parse(n)[:2] for n in valid) == {(d, s): 5 for d in range(10) for s in others}
    assert Counter(parse(n)[:2] for n in train) == {(d, s): 45 for d in range(10) for s in others}


def test_isolated_split_is_reproducible_by_seed(tmp_path):
    same = [digits.isolated_manifests(FSDD, tmp_path / name, "george", seed=seed) for name, seed in
            (("a", 1), ("b", 1), ("c", 2))]
    for split in ("train", "valid", "test"):
        assert same[0][split].read_bytes() == same[1][split].read_bytes()
    assert same[0]["valid"].read_bytes() != same[2]["valid"].read_bytes()
    assert same[0]["test"].read_bytes() == same[2]["test"].read_bytes()  # every recording of george, in order
    absolute = digits.isolated_manifests(FSDD, tmp_path / "abs", "george", seed=1, absolute=True)
    assert all(Path(row["path"]).is_absolute() and Path(row["path"]).is_file() for row in rows(absolute["test"]))


def test_connected_strings_hold_two_to_seven_digits_of_their_own_pool(connected):
    base, written, _ = connected
    train_pool, valid_pool = digits.split_pool([r for r in digits.recordings(FSDD) if r.speaker != TEST_SPEAKER],
                                               0.1, seed=3)
    pools = {"train": {r.name for r in train_pool}, "valid": {r.name for r in valid_pool}}
    for split, size in (("train", 16), ("valid", 8), ("test", 12)):
        manifest = rows(written["a"][split])
        assert len(manifest) == size
        assert written["a"][split].read_text(encoding="utf-8").startswith("path\ttranscript\tsources\tsnr_db\n")
        for row in manifest:
            words, sources = row["transcript"].split(" "), row["sources"].split(" ")
            assert 2 <= len(words) <= 7 and len(words) == len(sources)
            assert words == [digits.WORDS[parse(source)[0]] for source in sources]
            assert row["path"].startswith(f"wav/{split}/")
            assert 15 <= float(row["snr_db"]) <= 35
            if split == "test":
                assert {parse(source)[1] for source in sources} == {TEST_SPEAKER}
            else:
                assert set(sources) <= pools[split]  # train and valid pools share no recording
    lengths = Counter(len(row["sources"].split()) for split in ("train", "valid", "test")
                      for row in rows(written["a"][split]))
    assert len(lengths) >= 4  # lengths vary


def test_connected_wavs_are_8khz_mono_int16_and_as_long_as_their_parts(connected):
    base, written, plan = connected
    for split in ("train", "test"):
        for row, utterance in zip(rows(written["a"][split]), plan[split]):
            path = written["a"][split].parent / row["path"]
            info = soundfile.info(str(path))
            assert (info.samplerate, info.channels, info.format, info.subtype) == (RATE, 1, "WAV", "PCM_16")
            samples, rate = soundfile.read(path, dtype="int16")
            assert samples.dtype == np.int16 and samples.ndim == 1 and rate == RATE
            parts = sum(soundfile.info(str(FSDD / f"{source}.wav")).frames for source in row["sources"].split())
            # from the manifest alone: the digits and at least 50 ms between every two
            assert len(samples) >= parts + (len(row["sources"].split()) - 1) * RATE * 50 // 1000
            assert len(samples) == parts + sum(utterance.silences)  # exactly, from the plan
            assert row["sources"] == " ".join(r.name for r in utterance.sources)
            assert np.abs(samples).max() <= 0.95 * 32767 + 1  # the headroom


def test_same_seed_same_bytes_other_seed_other_bytes(connected):
    base, written, _ = connected
    files = {name: sorted(p.relative_to(base / name) for p in (base / name).rglob("*") if p.is_file())
             for name in ("a", "b", "c")}
    assert files["a"] == files["b"] == files["c"] and len(files["a"]) == 3 + sum(SIZES.values())
    assert not [p for p in files["a"] if p.name.endswith(".tmp")]
    assert all((base / "a" / p).read_bytes() == (base / "b" / p).read_bytes() for p in files["a"])
    assert all(written["a"][s].read_bytes() != written["c"][s].read_bytes() for s in ("train", "valid", "test"))
    wavs = [p for p in files["a"] if p.suffix == ".wav"]
    assert sum((base / "a" / p).read_bytes() == (base / "c" / p).read_bytes() for p in wavs) == 0


def test_the_test_set_does_not_depend_on_the_training_size(connected):
    _, _, plan = connected
    assert digits.connected_plan(FSDD, TEST_SPEAKER, seed=3, n_train=2, n_valid=8, n_test=12)["test"] == plan["test"]


def test_noise_is_at_the_drawn_snr(connected):
    _, written, plan = connected
    errors = []
    for split in ("train", "test"):
        for row, utterance in zip(rows(written["a"][split]), plan[split]):
            y, _ = soundfile.read(written["a"][split].parent / row["path"], dtype="float64")
            lengths = [soundfile.info(str(r.path)).frames for r in utterance.sources]
            starts = digits.digit_starts(utterance, lengths)
            speech = np.zeros(len(y), dtype=bool)
            for start, length in zip(starts, lengths):
                speech[start:start + length] = True
            p_noise = np.mean(y[~speech] ** 2)  # silences hold the noise alone
            p_speech = np.mean(y[speech] ** 2) - p_noise
            errors.append(10 * np.log10(p_speech / p_noise) - utterance.snr_db)
    errors = np.abs(errors)
    assert np.median(errors) < 0.5 and errors.max() < 2, errors.round(2)
    assert {u.noise for split in plan.values() for u in split} == {"white", "pink"}


def test_pink_noise_has_more_power_at_low_frequencies_and_both_have_unit_rms():
    rng = np.random.default_rng(0)
    for kind in ("white", "pink"):
        x = digits.noise(kind, 16000, rng)
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0)
        power = np.abs(np.fft.rfft(x)) ** 2
        low, high = power[10:400].mean(), power[4000:8000].mean()
        assert (low / high > 10) if kind == "pink" else (0.5 < low / high < 2)


def test_another_rate_resamples_the_recordings(tmp_path):
    written = digits.connected_manifests(FSDD, tmp_path, TEST_SPEAKER, n_train=1, n_valid=0, n_test=1, rate=16000)
    (row,) = rows(written["test"])
    assert rows(written["valid"]) == []
    samples, rate = soundfile.read(tmp_path / row["path"], dtype="int16")
    parts = sum(soundfile.info(str(FSDD / f"{source}.wav")).frames for source in row["sources"].split())
    assert rate == 16000 and len(samples) >= 2 * parts


def test_bad_settings_are_refused_with_the_value():
    with pytest.raises(ValueError, match="min_digits"):
        digits.connected_plan(FSDD, TEST_SPEAKER, min_digits=5, max_digits=3)
    with pytest.raises(ValueError, match="valid_fraction"):
        digits.isolated_manifests(FSDD, "unused", TEST_SPEAKER, valid_fraction=1.0)
    with pytest.raises(ValueError, match="gap_ms"):
        digits.Mixing(gap_ms=(300.0, 50.0))
    with pytest.raises(ValueError, match="noises"):
        digits.Mixing(noises=("brown",))


def test_main_writes_and_reports(tmp_path, capsys):
    assert digits.main(["isolated", "--out", str(tmp_path / "iso"), "--test-speaker", "jackson"]) == 0
    printed = capsys.readouterr().out
    assert "500 recordings" in printed and "1800 recordings" in printed and "200 recordings" in printed
    argv = ["connected", "--out", str(tmp_path / "con"), "--test-speaker", "jackson", "--train", "3", "--valid",
            "2", "--test", "2", "--seed", "5", "--max-digits", "3", "--snr-db", "20,25", "--noise", "white"]
    assert digits.main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 utterances" in printed and "min of audio" in printed
    manifest = rows(tmp_path / "con" / "train.tsv")
    assert all(len(row["sources"].split()) <= 3 and 20 <= float(row["snr_db"]) <= 25 for row in manifest)
    assert digits.main(["isolated", "--out", str(tmp_path / "x"), "--test-speaker", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err
    assert digits.main(["speakers"]) == 0
    assert capsys.readouterr().out.split() == [w for s in SPEAKERS for w in (s, "500")]
