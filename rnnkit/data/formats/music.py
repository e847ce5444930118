"""Music as piano rolls: ``json-chorales``, ``mat``, MIDI and MusicXML in; MIDI out (DESIGN.md §6.1).

A piece is a piano roll: a (T, 88) boolean array whose row ``t`` is the frame ``x<t>`` (which of the 88 piano
keys sound during the ``t``-th time step) and whose column ``k`` is MIDI pitch ``21 + k`` (A0 … C8).

- ``json-chorales``: ``{"train": […], "valid": […], "test": […]}``; a piece is a list of frames, a frame a list
  of MIDI pitches (the layout of the JSB Chorales benchmark file).
- ``mat``: a MATLAB file with ``traindata``, ``validdata``, ``testdata``, each a 1×N cell array of (T, 88) 0/1
  matrices, column 0 = MIDI 21 (the polyphonic-music benchmarks' layout), read with scipy.
- ``midi``, ``musicxml``: files, or folders searched for them, read through music21 and quantised to a grid of
  ``resolution`` quarter notes (:func:`parse_resolution`: ``quarter``, ``eighth``, ``16th``, ``1/8`` …):
  frame ``t`` holds every note sounding at time ``t × resolution`` from the score's start (the notes are
  sampled on the grid, as the benchmark corpora were made), so a note shorter than a frame that covers no grid
  point is not in the roll. Tied notes join up; repeated notes of one pitch in adjacent frames are not told
  apart from a held note (a piano roll keeps no note boundaries, and neither do the benchmarks).

``--split`` picks the part of a ``json-chorales`` or ``mat`` file; MIDI and MusicXML files are one part.
Pitches outside the 88 keys are dropped with a warning that counts them. The default corpus, when no file is
given, is the Bach chorales music21 ships (:func:`default_chorales`, read once and cached).

Example::

    pieces = read_music(["jsb-chorales-quarter.json"], split="test")
    pieces[0].roll.shape                        # (T, 88)
    write_midi(pieces[0].roll, "chorale.mid")   # one note per run of frames, 1 frame = 1 quarter note
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open

LOWEST, KEYS = 21, 88                            # MIDI 21 (A0) … 108 (C8)
SPLITS = ("train", "valid", "test")
MUSIC_FORMATS = ("json-chorales", "mat", "midi", "musicxml")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")
MUSICXML_SUFFIXES = (".xml", ".mxl", ".musicxml")
NOTE_VALUES = {"whole": Fraction(4), "half": Fraction(2), "quarter": Fraction(1), "eighth": Fraction(1, 2),
               "16th": Fraction(1, 4), "sixteenth": Fraction(1, 4), "32nd": Fraction(1, 8)}
MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}


@dataclass
class Piece:
    """One piece: ``roll`` (T, 88) bool, ``where`` it came from (for messages)."""

    roll: np.ndarray
    where: str

    def __len__(self) -> int:
        return int(self.roll.shape[0])


def parse_resolution(text: str | float) -> float:
    """The length of one frame in quarter notes, from a note value: a name (``whole``, ``half``, ``quarter``,
    ``eighth``, ``16th``, ``32nd``, optionally ``dotted-``), a fraction of a whole note ``1/N`` (N = 1, 2, 4,
    8, 16, 32, 64; 3, 6, 12, 24 for triplets), or a number of quarter notes (``0.5``)."""
    raw = str(text).strip().lower()
    value: Fraction | None = None
    name = raw.removeprefix("dotted-")
    if name in NOTE_VALUES:
        value = NOTE_VALUES[name] * (Fraction(3, 2) if raw.startswith("dotted-") else 1)
    elif "/" in raw:
        num, _, den = raw.partition("/")
        if num.strip() == "1" and den.strip().isdigit() and int(den) in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64):
            value = Fraction(4, int(den))
    else:
        try:
            number = Fraction(raw)
        except (ValueError, ZeroDivisionError):
            number = None
        # a number of quarter notes that a note value can have: k/2^m or a triplet, from a 1/64 to 4 wholes
        if number is not None and 0 < number <= 16 and (number * 48).denominator == 1:
            value = number
    if value is None:
        raise RnnkitError(f"--resolution {text!r} is not a note value; give quarter, eighth, 16th, 1/8, 1/12 "
                          "(eighth-note triplets) or a length in quarter notes such as 0.5")
    return float(value)


def guess_music_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in MIDI_SUFFIXES + MUSICXML_SUFFIXES:
        return "musicxml" if suffix in MUSICXML_SUFFIXES else "midi"
    if suffix == ".mat":
        return "mat"
    if suffix == ".json":
        return "json-chorales"
    raise RnnkitError(f"{path}: cannot tell the format from the name; give --format "
                      f"({', '.join(MUSIC_FORMATS)})")


def read_music(paths, fmt: str | None = None, split: str = "train", resolution: float = 1.0) -> list[Piece]:
    """The pieces of ``paths`` (files or folders): for ``json-chorales`` and ``mat`` files the ``split`` part."""
    if split not in SPLITS:
        raise RnnkitError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    pieces: list[Piece] = []
    for path in paths:
        if not path.exists():
            raise RnnkitError(f"{path}: no such file or folder; check the path")
        kind = fmt or guess_music_format(path)
        if kind == "json-chorales":
            pieces += read_json_chorales(path, split)
        elif kind == "mat":
            pieces += read_mat(path, split)
        elif kind in ("midi", "musicxml"):
            pieces += [read_score(f, resolution) for f in _score_files(path, kind)]
        else:
            raise RnnkitError(f"--format must be one of {', '.join(MUSIC_FORMATS)}, got {kind!r}")
    if not pieces:
        raise RnnkitError(f"{', '.join(map(str, paths))}: no pieces to read")
    return pieces


def _score_files(path: Path, kind: str) -> list[Path]:
    if not path.is_dir():
        return [path]
    suffixes = MIDI_SUFFIXES + MUSICXML_SUFFIXES
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
    if not files:
        raise RnnkitError(f"{path}: the folder holds no MIDI or MusicXML files ({', '.join(suffixes)})")
    return files


def roll_from_frames(frames, where: str) -> tuple[np.ndarray, int]:
    """A (T, 88) roll from frames of MIDI pitches, and how many pitches fell outside the 88 keys."""
    roll = np.zeros((len(frames), KEYS), dtype=bool)
    outside = 0
    for t, frame in enumerate(frames):
        if not isinstance(frame, list):
            raise RnnkitError(f"{where}, frame {t + 1}: expected a list of MIDI pitches, got {type(frame).__name__}")
        for p in frame:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or p != int(p):
                raise RnnkitError(f"{where}, frame {t + 1}: {p!r} is not a MIDI pitch (an integer 21–108)")
            k = int(p) - LOWEST
            if 0 <= k < KEYS:
                roll[t, k] = True
            else:
                outside += 1
    return roll, outside


def _warn_outside(where: str, outside: int) -> None:
    if outside:
        warnings.warn(f"{where}: dropped {outside:,} note{'s' if outside != 1 else ''} outside the 88 piano keys "
                      "(MIDI 21–108)", stacklevel=3)


def read_json_chorales(path: Path, split: str) -> list[Piece]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RnnkitError(f"{path}: not a JSON file ({e}); json-chorales is "
                          '{"train": [...], "valid": [...], "test": [...]}') from None
    if not isinstance(data, dict) or not any(k in data for k in SPLITS):
        raise RnnkitError(f'{path}: expected an object with "train", "valid" and "test" lists of pieces')
    if split not in data:
        raise RnnkitError(f'{path}: has no "{split}" part (it has {", ".join(map(repr, data))}); choose --split')
    part = data[split]
    if not isinstance(part, list):
        raise RnnkitError(f'{path}: "{split}" must be a list of pieces, got {type(part).__name__}')
    pieces, outside = [], 0
    for i, frames in enumerate(part):
        where = f"{path} ({split} piece {i + 1})"
        if not isinstance(frames, list) or not frames:
            raise RnnkitError(f"{where}: a piece must be a non-empty list of frames")
        roll, out = roll_from_frames(frames, where)
        outside += out
        pieces.append(Piece(roll, where))
    _warn_outside(f"{path} ({split})", outside)
    return pieces


def read_mat(path: Path, split: str) -> list[Piece]:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise RnnkitError("reading .mat files needs scipy: pip install 'rnnkit[music]'") from None
    try:
        data = loadmat(str(path))
    except Exception as e:  # scipy raises many types for a damaged file; all mean the same
        raise RnnkitError(f"{path}: not a MATLAB file scipy can read ({type(e).__name__}: {e})"
                          .replace("\n", " ")) from None
    key = MAT_KEYS[split]
    if key not in data:
        found = [k for k in data if not k.startswith("__")]
        raise RnnkitError(f"{path}: no {key!r} cell array (it has {', '.join(found) or 'nothing'}); the mat "
                          "layout is traindata, validdata, testdata: 1×N cells of (T, 88) piano rolls")
    cells = data[key]
    if cells.dtype != object:
        raise RnnkitError(f"{path}: {key!r} must be a cell array of (T, 88) piano rolls, got a "
                          f"{cells.dtype} matrix of shape {cells.shape}")
    pieces = []
    for i, m in enumerate(cells.ravel()):
        where = f"{path} ({key} {i + 1})"
        m = np.asarray(m)
        if m.ndim != 2 or m.shape[1] != KEYS or m.shape[0] == 0:
            raise RnnkitError(f"{where}: expected a (T, 88) piano roll, got shape {m.shape}")
        if not np.isin(m, (0, 1)).all():
            raise RnnkitError(f"{where}: a piano roll holds only 0 and 1")
        pieces.append(Piece(m.astype(bool), where))
    return pieces


def read_score(path: Path, resolution: float = 1.0) -> Piece:
    """A MIDI or MusicXML file through music21, quantised to ``resolution`` quarter notes per frame."""
    try:
        import music21
    except ImportError:
        raise RnnkitError("reading MIDI and MusicXML needs music21: pip install 'rnnkit[music]'") from None
    if path.stat().st_size == 0:
        raise RnnkitError(f"{path}: the file is empty")
    midi = path.suffix.lower() in MIDI_SUFFIXES
    try:
        if midi:
            spans = _midi_spans(path, music21)
        else:
            spans = _score_spans(music21.converter.parse(str(path), forceSource=True))
    except RnnkitError:
        raise
    except Exception as e:  # music21 raises many types for a damaged file; all mean the same
        kind = "MIDI" if midi else "MusicXML"
        raise RnnkitError(f"{path}: not a {kind} file music21 can read ({type(e).__name__}: {e})"
                          .replace("\n", " ")[:400]) from None
    return _roll_from_spans(spans, str(path), resolution)


def _midi_spans(path: Path, music21) -> list[tuple[int, float, float]]:
    """(pitch, start, end) in quarter notes of every note of a MIDI file, from its note-on/off events (the
    drum channel 10 left out). The events are read as they are: no quantisation guesses."""
    mf = music21.midi.MidiFile()
    mf.open(str(path))
    try:
        mf.read()
    finally:
        mf.close()
    ticks = mf.ticksPerQuarterNote
    if not ticks or ticks <= 0:
        raise RnnkitError(f"{path}: the MIDI file has no ticks-per-quarter-note division (SMPTE time is not "
                          "supported)")
    on_type, off_type = music21.midi.ChannelVoiceMessages.NOTE_ON, music21.midi.ChannelVoiceMessages.NOTE_OFF
    spans = []
    for track in mf.tracks:
        now, sounding = 0, {}
        for event in track.events:
            if event.isDeltaTime():
                now += event.time or 0
                continue
            if event.type not in (on_type, off_type) or event.channel == 10:
                continue
            key = (event.channel, event.pitch)
            if key in sounding:                     # an off, or a new on of a sounding pitch, ends the note
                spans.append((event.pitch, sounding.pop(key) / ticks, now / ticks))
            if event.type == on_type and event.velocity:
                sounding[key] = now
        spans += [(pitch, start / ticks, now / ticks) for (_, pitch), start in sounding.items()]
    return spans


def _score_spans(score) -> list[tuple[int, float, float]]:
    spans = []
    for element in score.flatten().notes:
        start, length = float(element.offset), float(element.quarterLength)
        if length <= 0:                                    # grace notes take no time
            continue
        spans += [(pitch.midi, start, start + length) for pitch in element.pitches]
    return spans


def roll_from_score(score, where: str, resolution: float = 1.0) -> Piece:
    """The piano roll of a music21 stream (see the module doc for the quantisation)."""
    return _roll_from_spans(_score_spans(score), where, resolution)


def _roll_from_spans(spans, where: str, resolution: float) -> Piece:
    if not spans:
        raise RnnkitError(f"{where}: the file holds no notes")
    frames, outside = [], 0
    for midi, s, e in spans:
        if not 0 <= midi - LOWEST < KEYS:
            outside += 1
            continue
        a, b = math.ceil(s / resolution - 1e-9), math.ceil(e / resolution - 1e-9)   # s <= t·res < e
        if b > a:
            frames.append((midi - LOWEST, a, b))
    if not frames:
        raise RnnkitError(f"{where}: no note lies on the 88 piano keys (MIDI 21–108) and a grid point of "
                          "--resolution; check the file, or give a finer --resolution")
    _warn_outside(where, outside)
    roll = np.zeros((max(b for _, _, b in frames), KEYS), dtype=bool)
    for k, a, b in frames:
        roll[a:b, k] = True
    return Piece(roll, where)


def roll_to_stream(roll: np.ndarray, resolution: float = 1.0, bpm: float = 80.0):
    """A music21 stream with one note per run of sounding frames of each key."""
    import music21

    roll = np.asarray(roll, dtype=bool)
    s = music21.stream.Stream()
    s.insert(0, music21.tempo.MetronomeMark(number=bpm))
    padded = np.vstack([np.zeros((1, KEYS), bool), roll, np.zeros((1, KEYS), bool)]).astype(np.int8)
    edges = np.diff(padded, axis=0)                     # +1 where a run starts, −1 after it ends
    for k in range(KEYS):
        starts, ends = np.flatnonzero(edges[:, k] == 1), np.flatnonzero(edges[:, k] == -1)
        for a, b in zip(starts, ends):
            n = music21.note.Note(midi=LOWEST + k, quarterLength=(b - a) * resolution)
            s.insert(a * resolution, n)
    return s


def write_midi(roll: np.ndarray, path: str | Path, resolution: float = 1.0, bpm: float = 80.0) -> None:
    """Write a piano roll as a standard MIDI file (atomically): each run of frames of a key is one note."""
    import music21

    midi_file = music21.midi.translate.streamToMidiFile(roll_to_stream(roll, resolution, bpm))
    with atomic_open(path, "wb") as f:
        f.write(midi_file.writestr())


# --- the embedded default: music21's Bach chorales ------------------------------------------------------

DEFAULT_SPLIT_SEED, DEFAULT_FRACTIONS = 0, (0.8, 0.1)      # train / valid; the rest is test


def default_chorales(cache_dir: Path, resolution: float = 1.0, limit: int | None = None) -> dict[str, list[Piece]]:
    """The Bach chorales of music21's corpus (no download) as piano rolls, split 80/10/10 at random with a
    fixed seed into train / valid / test. Read once (about a minute) and cached in ``cache_dir``."""
    try:
        import music21
        from music21 import corpus
    except ImportError:
        raise RnnkitError("the default music corpus is music21's Bach chorales: pip install 'rnnkit[music]', "
                          "or give --data FILE") from None
    names = list(corpus.chorales.Iterator(returnType="filename"))
    if limit is not None:
        names = names[:limit]
    key = hashlib.sha256(json.dumps([music21.__version__, resolution, names]).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"music21-chorales-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            rolls = np.split(z["rolls"], np.cumsum(z["lengths"])[:-1])
            where = [str(w) for w in z["where"]]
    else:
        rolls, where = [], []
        for name in names:
            piece = roll_from_score(corpus.parse(name), f"music21 corpus {name}", resolution)
            rolls.append(piece.roll)
            where.append(piece.where)
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(cache, "wb") as f:
            np.savez(f, rolls=np.concatenate(rolls), lengths=np.array([len(r) for r in rolls]),
                     where=np.array(where))
    order = np.random.default_rng(DEFAULT_SPLIT_SEED).permutation(len(rolls))
    n_train = int(round(DEFAULT_FRACTIONS[0] * len(rolls)))
    n_valid = int(round(DEFAULT_FRACTIONS[1] * len(rolls)))
    parts = {"train": order[:n_train], "valid": order[n_train:n_train + n_valid], "test": order[n_train + n_valid:]}
    return {name: [Piece(rolls[i].astype(bool), where[i]) for i in sorted(idx)] for name, idx in parts.items()}
