"""``rnnkit music train | eval | generate`` end to end on tiny data (music21's own corpus, never a download),
and its clear errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("music21")
pytest.importorskip("scipy.io")

SMALL = ["--hidden", "24", "--batch-size", "4", "--log-every", "1", "--quiet", "--seed", "3", "--lr", "1e-2",
         "--warmup", "0", "--dropout", "0.0"]
# Four chords that always follow one another: a next-frame model learns them, independent keys cannot.
CHORDS = [[48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67], [48, 55, 64, 72]]


def _pieces(n, seed):
    rng = np.random.default_rng(seed)
    return [[CHORDS[(s + t) % 4] for t in range(int(rng.integers(6, 14)))] for s in rng.integers(0, 4, n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from rnnkit.cli.main import main

    tmp = tmp_path_factory.mktemp("music")
    data = tmp / "chords.json"
    data.write_text(json.dumps({"train": _pieces(24, 0), "valid": _pieces(8, 1), "test": _pieces(8, 2)}))
    run = tmp / "run"
    assert main([str(a) for a in ["music", "train", "--data", data, "--out", run, "--epochs", "15", *SMALL]]) == 0
    return run, data


def test_trains_evaluates_and_beats_independent_keys(rnnkit, trained):
    run, data = trained
    for name in ("config.json", "model.safetensors", "state.json", "metrics.jsonl", "loss.png",
                 "best/model.safetensors"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "music" and config["data"]["train_pieces"] == 24 and config["data"]["valid_pieces"] == 8
    code, out, err = rnnkit("music", "eval", run, "--data", data, "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert {"nll_per_frame", "frame_accuracy", "bernoulli_nll_per_frame", "frames"} <= set(result)
    assert result["frames"] == sum(len(p) - 1 for p in _pieces(8, 2))              # the test part, frame 1 unscored
    assert result["nll_per_frame"] < 0.5 * result["bernoulli_nll_per_frame"]
    assert result["frame_accuracy"] > 0.9
    code, out, _ = rnnkit("music", "eval", run, "--data", data, "--split", "valid", "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["frames"] == sum(len(p) - 1 for p in _pieces(8, 1))


def test_generate_writes_playable_midi_and_pictures(rnnkit, trained, tmp_path):
    from rnnkit.data.formats.music import read_music
    from rnnkit.tasks.music import load_run

    run, data = trained
    out = tmp_path / "pieces"
    code, stdout, err = rnnkit("music", "generate", run, "--out", out, "--num", "2", "--length", "16", "--seed",
                               "7", "--temperature", "0.5")
    assert code == 0, err
    rows = [json.loads(line) for line in stdout.strip().splitlines()]
    assert [r["midi"] for r in rows] == [str(out / "piece-1.mid"), str(out / "piece-2.mid")]
    assert all((out / f"piece-{i}.png").stat().st_size > 5000 for i in (1, 2))
    # the MIDI files hold exactly the drawn rolls (the same seed draws them again)
    model = load_run(run).model
    rolls = model.generate(2, 16, None, 0.5, None, torch.Generator().manual_seed(7)).numpy()
    for roll, row in zip(rolls, rows):
        back = read_music([row["midi"]])[0].roll
        sounding = np.flatnonzero(roll.any(axis=1))
        assert back.shape[0] == sounding[-1] + 1                  # MIDI keeps no silence after the last note
        assert (back == roll[: len(back)]).all()


def test_primer_starts_every_piece(rnnkit, trained, tmp_path):
    from rnnkit.data.formats.music import read_music, write_midi

    run, _ = trained
    primer = np.zeros((3, 88), bool)
    for t, chord in enumerate(CHORDS[:3]):
        primer[t, np.array(chord) - 21] = True
    write_midi(primer, tmp_path / "primer.mid")
    code, stdout, err = rnnkit("music", "generate", run, "--out", tmp_path / "p", "--primer", tmp_path / "primer.mid",
                               "--length", "10", "--max-polyphony", "3")
    assert code == 0, err
    back = read_music([json.loads(stdout)["midi"]])[0].roll
    assert (back[:3] == primer).all() and back[3:].sum(axis=1).max() <= 3
    # the model learned the chord cycle: the most likely continuation of the primer goes on with it
    code, stdout, _ = rnnkit("music", "generate", run, "--out", tmp_path / "p", "--primer", tmp_path / "primer.mid",
                             "--length", "10", "--temperature", "0")
    back = read_music([json.loads(stdout)["midi"]])[0].roll
    assert [sorted(np.flatnonzero(f) + 21) for f in back] == [CHORDS[t % 4] for t in range(10)]
    code, _, err = rnnkit("music", "generate", run, "--out", tmp_path / "p", "--primer", tmp_path / "primer.mid",
                          "--length", "2")
    assert code == 2 and "has 3 frames, more than --length 2" in err and "Traceback" not in err


def test_trains_on_musicxml_files_with_a_held_out_fraction(rnnkit, tmp_path):
    from music21 import corpus

    files = [corpus.getWork(f"bach/{n}") for n in ("bwv269", "bwv347", "bwv153.1", "bwv86.6", "bwv267")]
    code, out, err = rnnkit("music", "train", "--data", *files, "--valid-fraction", "0.2", "--out", tmp_path / "r",
                            "--steps", "4", "--resolution", "eighth", *SMALL)
    assert code == 0, err
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["train_pieces"] == 4 and config["data"]["valid_pieces"] == 1
    assert config["data"]["resolution"] == "eighth"


def test_default_corpus_is_music21s_chorales(rnnkit, tmp_path, monkeypatch):
    import rnnkit.tasks.music as task

    real = task.default_chorales
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(task, "default_chorales", lambda cache, resolution: real(cache, resolution, limit=12))
    code, out, err = rnnkit("music", "train", "--out", tmp_path / "r", "--steps", "3", *SMALL)
    assert code == 0, err
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["files"] is None and config["data"]["train_pieces"] == 10
    code, out, err = rnnkit("music", "eval", tmp_path / "r", "--json")          # the default's test part
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["frames"] > 0


@pytest.mark.parametrize("flags, message", [
    (["--resolution", "fast"], "'fast' is not a note value"),
    (["--transpose", "20"], "--transpose must be between 0 and 12"),
    (["--data", "missing.json"], "missing.json: no such file"),
])
def test_bad_training_input_is_one_line_and_status_2(rnnkit, tmp_path, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.json").write_text(json.dumps({"train": _pieces(4, 0), "valid": _pieces(2, 1)}))
    data = [] if "--data" in flags else ["--data", "ok.json"]
    code, _, err = rnnkit("music", "train", *data, *flags, "--out", tmp_path / "r", "--steps", "2", *SMALL)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_mat_file_without_the_cells_is_a_clear_error(rnnkit, tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "x.mat", {"pieces": np.zeros((2, 88))})
    code, _, err = rnnkit("music", "train", "--data", tmp_path / "x.mat", "--out", tmp_path / "r", *SMALL)
    assert code == 2 and "no 'traindata' cell array" in err
