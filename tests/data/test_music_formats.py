"""Piano rolls from json-chorales, mat, MIDI and MusicXML: the same piece reads the same everywhere, MIDI
round trips, the grid sampling of --resolution, and clear errors on bad files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from rnnkit.data.formats.music import (
    KEYS,
    LOWEST,
    default_chorales,
    parse_resolution,
    read_music,
    roll_from_score,
    write_midi,
)
from rnnkit.errors import RnnkitError

music21 = pytest.importorskip("music21")
scipy_io = pytest.importorskip("scipy.io")

# A short four-voice passage as frames of MIDI pitches (quarter notes); a held note spans frames 0–1 (C4).
FRAMES = [[48, 60, 64, 67], [48, 60, 65, 69], [43, 59, 62, 67], [], [48, 55, 64, 72]]


def _roll(frames):
    roll = np.zeros((len(frames), KEYS), bool)
    for t, f in enumerate(frames):
        roll[t, np.array(f, int) - LOWEST] = True
    return roll


def _json(path, train, valid=None, test=None):
    path.write_text(json.dumps({"train": train, "valid": valid or train, "test": test or train}))
    return path


def test_json_mat_and_midi_give_the_same_roll_for_the_same_piece(tmp_path):
    expected = _roll(FRAMES)
    from_json = read_music(_json(tmp_path / "p.json", [FRAMES]))[0].roll
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = expected.astype(np.uint8)
    scipy_io.savemat(tmp_path / "p.mat", {"traindata": cells, "validdata": cells, "testdata": cells})
    from_mat = read_music([tmp_path / "p.mat"], split="test")[0].roll
    write_midi(expected, tmp_path / "p.mid")
    from_midi = read_music([tmp_path / "p.mid"])[0].roll
    for roll in (from_json, from_mat, from_midi):
        assert roll.dtype == bool and roll.shape == (5, KEYS)
        assert (roll == expected).all()


def test_splits_of_a_json_chorales_file(tmp_path):
    path = _json(tmp_path / "c.json", [FRAMES], [FRAMES[:2]], [FRAMES[:3], FRAMES[:4]])
    assert [len(p) for p in read_music([path], split="test")] == [3, 4]
    assert [len(p) for p in read_music([path], split="valid")] == [2]
    with pytest.raises(RnnkitError, match="--split"):
        read_music([path], split="dev")


def test_midi_round_trip_at_eighth_notes_keeps_every_frame(tmp_path):
    rng = np.random.default_rng(0)
    roll = rng.random((40, KEYS)) < 0.05
    roll[0, 40] = roll[-1, 50] = True                     # sounding in the first and the last frame
    write_midi(roll, tmp_path / "r.mid", resolution=0.5)
    back = read_music([tmp_path / "r.mid"], resolution=0.5)[0].roll
    assert back.shape == roll.shape and (back == roll).all()
    coarse = read_music([tmp_path / "r.mid"], resolution=1.0)[0].roll     # every other frame: the grid points
    assert (coarse == roll[::2][: len(coarse)]).all()


def test_musicxml_from_music21s_corpus_reads_as_sampled_quarter_notes():
    from music21 import corpus

    path = corpus.getWork("bach/bwv269")
    piece = read_music([path], fmt="musicxml")[0]
    score = corpus.parse("bach/bwv269")
    assert piece.roll.shape[1] == KEYS and len(piece) == int(np.ceil(float(score.highestTime)))
    # frame t holds exactly the pitches sounding at quarter note t
    t = 5
    sounding = {p.midi for n in score.flatten().notes if n.offset <= t < n.offset + n.quarterLength
                for p in n.pitches}
    assert set((np.flatnonzero(piece.roll[t]) + LOWEST).tolist()) == sounding
    assert (roll_from_score(score, "x").roll == piece.roll).all()


@pytest.mark.parametrize("text, quarters", [("quarter", 1.0), ("eighth", 0.5), ("16th", 0.25), ("1/8", 0.5),
                                            ("1/12", 1 / 3), ("dotted-quarter", 1.5), ("0.5", 0.5), ("half", 2.0)])
def test_resolution_names_note_values(text, quarters):
    assert parse_resolution(text) == pytest.approx(quarters)


@pytest.mark.parametrize("text", ["fast", "0", "-1", "1/7", "0.3", "2/8", ""])
def test_a_resolution_that_is_not_a_note_value_is_refused(text):
    with pytest.raises(RnnkitError, match="not a note value"):
        parse_resolution(text)


def test_notes_outside_the_keyboard_are_dropped_with_a_count(tmp_path):
    path = _json(tmp_path / "o.json", [[[10, 60], [120, 64, 5]]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roll = read_music([path])[0].roll
    assert roll.sum() == 2 and any("dropped 3 notes outside the 88 piano keys" in str(w.message) for w in caught)


def test_bad_files_are_clear_errors(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"MThd this is not midi")
    with pytest.raises(RnnkitError, match="bad.mid: not a MIDI file"):
        read_music([tmp_path / "bad.mid"])
    (tmp_path / "bad.xml").write_text("<score-partwise><part><measure>", encoding="utf-8")
    with pytest.raises(RnnkitError, match="bad.xml: not a MusicXML file"):
        read_music([tmp_path / "bad.xml"])
    silent = music21.stream.Stream([music21.note.Rest(quarterLength=4)])
    silent.write("midi", fp=tmp_path / "silent.mid")
    with pytest.raises(RnnkitError, match="silent.mid: the file holds no notes"):
        read_music([tmp_path / "silent.mid"])
    scipy_io.savemat(tmp_path / "x.mat", {"rolls": np.zeros((3, 88))})
    with pytest.raises(RnnkitError, match="no 'traindata' cell array"):
        read_music([tmp_path / "x.mat"])
    (tmp_path / "x.json").write_text(json.dumps({"train": [[[60, "C4"]]]}))
    with pytest.raises(RnnkitError, match="frame 1: 'C4' is not a MIDI pitch"):
        read_music([tmp_path / "x.json"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RnnkitError, match="cannot tell the format"):
        read_music([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RnnkitError, match="holds no MIDI or MusicXML files"):
        read_music([tmp_path / "empty"])


def test_a_folder_is_read_in_name_order(tmp_path):
    for name, frames in (("b.mid", FRAMES[:2]), ("a.mid", FRAMES)):
        write_midi(_roll(frames), tmp_path / name)
    assert [len(p) for p in read_music([tmp_path])] == [5, 2]


def test_default_corpus_splits_music21s_chorales_once_and_caches_them(tmp_path):
    parts = default_chorales(tmp_path, limit=10)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [8, 1, 1]
    assert len(list(tmp_path.glob("music21-chorales-*.npz"))) == 1
    again = default_chorales(tmp_path, limit=10)                      # from the cache
    assert all((a.roll == b.roll).all() and a.where == b.where for a, b in zip(parts["train"], again["train"]))
    names = {p.where for ps in parts.values() for p in ps}
    assert len(names) == 10 and all(w.startswith("music21 corpus bach/") for w in names)
