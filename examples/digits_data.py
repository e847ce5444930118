"""Spoken digits for speech recognition with CTC: the Free Spoken Digit Dataset as manifests.

The Free Spoken Digit Dataset (FSDD) holds 2,500 recordings ``{digit}_{speaker}_{index}.wav`` (8 kHz, mono,
16-bit, trimmed to near minimal silence): 5 speakers (george, jackson, nicolas, theo, yweweler) × 10 digits
× 50 recordings. The transcripts are the English number words of :data:`WORDS`
(``zero one two three four five six seven eight nine``). It is read from ``../shared/data/fsdd/recordings``,
beside the repository (:data:`FSDD`), or from ``--fsdd PATH``.

Both tasks hold one speaker out: every recording of ``test_speaker`` is test data and nothing else, so the
test error measures how a model does on a voice it has never heard. The other speakers' recordings are split
into a training pool and a validation pool, stratified: of every (speaker, digit) group, a fraction
``valid_fraction`` (rounded, 5 of 50 by default) is drawn for validation by the seed (:func:`split_pool`).

**Isolated digits** (:func:`isolated_manifests`): one recording per row, the transcript its number word::

    python examples/digits_data.py isolated --out digits --test-speaker theo

**Connected digit strings** (:func:`connected_manifests`), the task CTC is made for: each utterance joins 2 to
7 recordings (drawn with replacement from its split's pool only; test strings from ``test_speaker``'s
recordings only) into one WAV, mixed as set by :class:`Mixing`::

    lead silence, digit, gap, digit, ..., gap, digit, trail silence        lead/trail 0-200 ms, gaps 50-300 ms
    each digit scaled to an RMS of level_dbfs ± gain_db                    -25 dBFS ± 6 dB, uniform in dB
    noise over the whole utterance at an SNR drawn in snr_db               white or pink, 15-35 dB

The SNR is ``10 log10(P_speech / P_noise)`` with ``P_speech`` the mean power of the digits' samples (not of
the silences). An utterance whose peak would pass ``headroom`` is scaled down as a whole (SNR unchanged)::

    python examples/digits_data.py connected --out digits-connected --test-speaker theo \\
        [--train 3000 --valid 300 --test 500 --seed 0]

writes ``wav/{train,valid,test}/000000.wav`` ... (16-bit mono WAV at ``--rate``, 8000 by default; recordings
are resampled if it differs) under ``--out``.

**Manifests.** Every manifest is a UTF-8 TSV with a header row; ``path`` is relative to the manifest's folder
(or absolute, with ``--absolute``) and ``transcript`` the words, separated by single spaces. Connected
manifests have two more columns: ``sources``, the FSDD names the utterance is made of, in order
(``7_theo_3 1_theo_22``), and ``snr_db``::

    path                    transcript      sources                 snr_db
    wav/test/000000.wav     seven one       7_theo_3 1_theo_22      27.31

**Reproducible.** Every draw comes from ``numpy.random.default_rng`` seeded by ``seed`` (never a global RNG),
each split from its own stream, so the same arguments always write byte-identical files and the test set
does not depend on ``n_train``. Files are written to a temporary name and renamed into place, the manifests
last, so a manifest never names a missing WAV (WAVs of an earlier, larger run in the same folder are left
alone, named by no manifest). ``python examples/digits_data.py speakers`` lists the speakers.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
RATE = 8000
NOISES: tuple[str, ...] = ("white", "pink")
_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav")


@dataclass(frozen=True)
class Recording:
    """One FSDD file: ``{digit}_{speaker}_{index}.wav``."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def word(self) -> str:
        return WORDS[self.digit]

    @property
    def name(self) -> str:
        """The file name without ``.wav``: ``7_theo_32``."""
        return self.path.stem


@dataclass(frozen=True)
class Mixing:
    """How a connected string is put together; times in milliseconds, levels in dB (ranges are uniform)."""

    gap_ms: tuple[float, float] = (50.0, 300.0)  # silence between two digits
    edge_ms: tuple[float, float] = (0.0, 200.0)  # silence before the first digit, and after the last
    level_dbfs: float = -25.0  # every digit is first scaled to this RMS (0 dBFS: a full-scale square wave) ...
    gain_db: float = 6.0  # ... then by a gain drawn in ± gain_db
    snr_db: tuple[float, float] = (15.0, 35.0)  # speech to noise power over the digits' samples
    noises: tuple[str, ...] = NOISES  # kinds of background noise, one drawn per utterance
    headroom: float = 0.95  # the peak an utterance may reach (full scale 1), else it is scaled down whole

    def __post_init__(self):
        for name in ("gap_ms", "edge_ms", "snr_db"):
            low, high = getattr(self, name)
            if not low <= high or (name != "snr_db" and low < 0):
                raise ValueError(f"{name} must be a range (low, high) with 0 <= low <= high, got {(low, high)}")
        if self.gain_db < 0:
            raise ValueError(f"gain_db is a ± range and cannot be negative, got {self.gain_db}")
        if not self.noises or set(self.noises) - set(NOISES):
            raise ValueError(f"noises must be drawn from {NOISES}, got {self.noises}")
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom is a peak in (0, 1], got {self.headroom}")


@dataclass(frozen=True)
class Utterance:
    """A connected string as drawn: its recordings, each one's gain, the silences and the noise.

    ``silences`` (in samples at the output rate) has one more entry than ``sources``: the lead silence, the
    gaps, the trail silence. The noise is drawn from ``noise_seed`` when the utterance is mixed.
    """

    sources: tuple[Recording, ...]
    gains_db: tuple[float, ...]
    silences: tuple[int, ...]
    snr_db: float
    noise: str
    noise_seed: int

    @property
    def transcript(self) -> str:
        return " ".join(source.word for source in self.sources)


MIXING = Mixing()


# --- recordings, speakers and the leave-one-speaker-out split -------------------------------------------------

def recordings(root: str | Path = FSDD) -> list[Recording]:
    """Every ``{digit}_{speaker}_{index}.wav`` in ``root``, sorted by speaker, digit and index.

    Raises FileNotFoundError if ``root`` is not a folder, ValueError if a ``.wav`` file is named otherwise or
    if there are none.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of FSDD recordings (pass --fsdd PATH/recordings)")
    found, folder = [], root.resolve()
    for path in root.iterdir():
        if path.suffix.lower() != ".wav":
            continue
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"{path} is not named {{digit}}_{{speaker}}_{{index}}.wav like an FSDD recording")
        digit, speaker, index = match.groups()
        found.append(Recording(folder / path.name, int(digit), speaker, int(index)))
    if not found:
        raise ValueError(f"{root} holds no .wav recordings")
    return sorted(found, key=lambda r: (r.speaker, r.digit, r.index))


def speakers(source: str | Path | Iterable[Recording] = FSDD) -> list[str]:
    """The speakers, sorted, of a folder of recordings or of a list of :class:`Recording`."""
    items = recordings(source) if isinstance(source, (str, Path)) else source
    return sorted({r.speaker for r in items})


def _check_speaker(items: Sequence[Recording], test_speaker: str) -> None:
    known = speakers(items)
    if test_speaker not in known:
        raise ValueError(f"test speaker {test_speaker!r} is not among the speakers: {', '.join(known)}")
    if len(known) < 2:
        raise ValueError(f"{test_speaker!r} is the only speaker: nobody is left to train on")


def split_pool(items: Sequence[Recording], valid_fraction: float = 0.1, seed: int = 0,
               ) -> tuple[list[Recording], list[Recording]]:
    """(train, valid): of every (speaker, digit) group of n recordings, ``round(valid_fraction · n)`` drawn for
    validation by the seed and the rest for training, both in the order of ``items``."""
    if not 0 <= valid_fraction < 1:
        raise ValueError(f"valid_fraction must lie in [0, 1), got {valid_fraction}")
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, r in enumerate(items):
        groups[r.speaker, r.digit].append(i)
    held = set()
    for key in sorted(groups):
        members = groups[key]
        n_valid = int(np.floor(valid_fraction * len(members) + 0.5))
        held.update(members[j] for j in rng.permutation(len(members))[:n_valid])
    return ([r for i, r in enumerate(items) if i not in held], [r for i, r in enumerate(items) if i in held])


def leave_one_speaker_out(items: Sequence[Recording], test_speaker: str, valid_fraction: float = 0.1,
                          seed: int = 0) -> dict[str, list[Recording]]:
    """{"train", "valid", "test"}: ``test_speaker``'s recordings are the test set; the others' are split by
    :func:`split_pool`."""
    _check_speaker(items, test_speaker)
    train, valid = split_pool([r for r in items if r.speaker != test_speaker], valid_fraction, seed)
    return {"train": train, "valid": valid, "test": [r for r in items if r.speaker == test_speaker]}


# --- writing ------------------------------------------------------------------------------------------------

def _manifest_path(path: Path, base: Path, absolute: bool) -> str:
    """``path`` (absolute) as a manifest in the folder ``base`` (absolute) names it."""
    if absolute:
        return str(path)
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path)


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_manifest(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write a UTF-8 TSV with a header row, atomically; return the number of rows.

    Raises ValueError if a field holds a tab or a line break, or if a row has the wrong number of fields.
    """
    path = Path(path)
    lines = []
    for row in [header, *rows]:
        if len(row) != len(header):
            raise ValueError(f"row {row} has {len(row)} fields, the header {len(header)}")
        for field in row:
            if "\t" in field or field != "".join(field.splitlines()):
                raise ValueError(f"{field!r} holds a tab or a line break")
        lines.append("\t".join(row) + "\n")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(lines), encoding="utf-8", newline="\n")
    _replace(tmp, path)
    return len(lines) - 1


def isolated_manifests(root: str | Path, out_dir: str | Path, test_speaker: str, valid_fraction: float = 0.1,
                       seed: int = 0, absolute: bool = False) -> dict[str, Path]:
    """Write ``train.tsv``, ``valid.tsv``, ``test.tsv`` (``path<TAB>transcript``, one recording a row) of the
    leave-one-speaker-out split (:func:`leave_one_speaker_out`) into ``out_dir``; return their paths."""
    splits = leave_one_speaker_out(recordings(root), test_speaker, valid_fraction, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir.resolve()
    written = {}
    for name, items in splits.items():
        rows = [(_manifest_path(r.path, base, absolute), r.word) for r in items]
        written[name] = out_dir / f"{name}.tsv"
        write_manifest(written[name], ("path", "transcript"), rows)
    return written


# --- connected digit strings ----------------------------------------------------------------------------------

def _samples(ms: float, rate: int) -> int:
    return int(round(ms * rate / 1000))


def draw_utterances(pool: Sequence[Recording], n: int, rng: np.random.Generator, min_digits: int = 2,
                    max_digits: int = 7, rate: int = RATE, mixing: Mixing = MIXING) -> list[Utterance]:
    """``n`` connected strings drawn from ``pool`` by ``rng``: a length in [min_digits, max_digits], then each
    recording uniformly from the pool (with replacement), gains, silences, an SNR and a noise kind."""
    if n and not pool:
        raise ValueError(f"{n} utterances asked for from an empty pool of recordings")
    utterances = []
    for _ in range(n):
        k = int(rng.integers(min_digits, max_digits + 1))
        sources = tuple(pool[int(i)] for i in rng.integers(len(pool), size=k))
        gains = tuple(float(g) for g in rng.uniform(-mixing.gain_db, mixing.gain_db, size=k))
        edges = rng.uniform(*mixing.edge_ms, size=2)
        gaps = rng.uniform(*mixing.gap_ms, size=k - 1)
        silences = tuple(_samples(ms, rate) for ms in (edges[0], *gaps, edges[1]))
        snr = float(rng.uniform(*mixing.snr_db))
        noise = mixing.noises[int(rng.integers(len(mixing.noises)))]
        utterances.append(Utterance(sources, gains, silences, snr, noise, int(rng.integers(2**63))))
    return utterances


def connected_plan(root: str | Path, test_speaker: str, n_train: int = 3000, n_valid: int = 300,
                   n_test: int = 500, seed: int = 0, min_digits: int = 2, max_digits: int = 7, rate: int = RATE,
                   valid_fraction: float = 0.1, mixing: Mixing = MIXING) -> dict[str, list[Utterance]]:
    """{"train", "valid", "test"}: the utterances :func:`connected_manifests` writes, drawn but not mixed.

    Test strings come from ``test_speaker``'s recordings only; training and validation strings from the
    other speakers' training and validation pools (:func:`split_pool`), which share no recording.
    """
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits} and {max_digits}")
    for name, n in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if n < 0:
            raise ValueError(f"{name} cannot be negative, got {n}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    pools = leave_one_speaker_out(recordings(root), test_speaker, valid_fraction, seed)
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    return {name: draw_utterances(pools[name], sizes[name], np.random.default_rng([seed, k]), min_digits,
                                  max_digits, rate, mixing)
            for k, name in enumerate(SPLITS, start=1)}


class RecordingCache:
    """Recordings read once, as float32 in [-1, 1) at ``rate`` (resampled if the file's rate differs)."""

    def __init__(self, rate: int = RATE):
        self.rate = rate
        self._signals: dict[Path, np.ndarray] = {}

    def __call__(self, recording: Recording) -> np.ndarray:
        signal = self._signals.get(recording.path)
        if signal is None:
            import soundfile

            data, rate = soundfile.read(recording.path, dtype="float32", always_2d=True)
            signal = data.mean(axis=1, dtype=np.float32)
            if rate != self.rate:
                from math import gcd

                from scipy.signal import resample_poly

                g = gcd(rate, self.rate)
                signal = resample_poly(signal, self.rate // g, rate // g).astype(np.float32)
            self._signals[recording.path] = signal
        return signal


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-RMS noise: ``"white"`` (flat spectrum) or ``"pink"`` (power ∝ 1/f, by shaping
    white noise's spectrum; no DC)."""
    x = rng.standard_normal(n)
    if kind == "pink" and n > 2:
        spectrum = np.fft.rfft(x)
        k = np.arange(len(spectrum), dtype=np.float64)
        spectrum[0] = 0.0
        spectrum[1:] /= np.sqrt(k[1:])  # amplitude ∝ 1/√f: power ∝ 1/f
        x = np.fft.irfft(spectrum, n)
    elif kind not in NOISES:
        raise ValueError(f"unknown noise {kind!r}; expected one of {NOISES}")
    rms = np.sqrt(np.mean(x * x)) if n else 1.0
    return x / rms if rms > 0 else x


def mix(utterance: Utterance, load: RecordingCache, mixing: Mixing = MIXING) -> np.ndarray:
    """The utterance as float64 samples in [-headroom, headroom]: silences and scaled digits, plus noise."""
    signals = [load(source) for source in utterance.sources]
    starts = digit_starts(utterance, [len(s) for s in signals])
    clean = np.zeros(starts[-1] + len(signals[-1]) + utterance.silences[-1])
    level = 10 ** (mixing.level_dbfs / 20)
    energy, count = 0.0, 0
    for start, signal, gain in zip(starts, signals, utterance.gains_db):
        x = signal.astype(np.float64)
        rms = np.sqrt(np.mean(x * x))
        x *= level * 10 ** (gain / 20) / rms if rms > 0 else 0.0
        clean[start:start + len(x)] = x
        energy, count = energy + float(np.dot(x, x)), count + len(x)
    p_speech = energy / max(count, 1)
    p_noise = p_speech / 10 ** (utterance.snr_db / 10)
    y = clean + np.sqrt(p_noise) * noise(utterance.noise, len(clean), np.random.default_rng(utterance.noise_seed))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    return y * (mixing.headroom / peak) if peak > mixing.headroom else y


def digit_starts(utterance: Utterance, lengths: Sequence[int]) -> list[int]:
    """The first sample of each digit, given the digits' lengths in samples."""
    starts, position = [], utterance.silences[0]
    for length, gap in zip(lengths, utterance.silences[1:]):
        starts.append(position)
        position += length + gap
    return starts


def write_wav(path: str | Path, samples: np.ndarray, rate: int = RATE) -> None:
    """Write float samples in [-1, 1] as a 16-bit mono WAV, atomically (a temporary file, then a rename)."""
    import soundfile

    path = Path(path)
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    tmp = path.with_name(f".{path.name}.tmp")
    soundfile.write(tmp, pcm, rate, subtype="PCM_16", format="WAV")
    _replace(tmp, path)


def connected_manifests(root: str | Path, out_dir: str | Path, test_speaker: str, n_train: int = 3000,
                        n_valid: int = 300, n_test: int = 500, seed: int = 0, min_digits: int = 2,
                        max_digits: int = 7, rate: int = RATE, valid_fraction: float = 0.1,
                        mixing: Mixing = MIXING, absolute: bool = False) -> dict[str, Path]:
    """Mix the utterances of :func:`connected_plan` into ``out_dir/wav/{split}/NNNNNN.wav`` and write
    ``train.tsv``, ``valid.tsv``, ``test.tsv`` (``path transcript sources snr_db``); return their paths."""
    out_dir = Path(out_dir)
    plan = connected_plan(root, test_speaker, n_train, n_valid, n_test, seed, min_digits, max_digits, rate,
                          valid_fraction, mixing)
    load = RecordingCache(rate)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir.resolve()
    rows: dict[str, list[tuple[str, ...]]] = {}
    for name, utterances in plan.items():
        folder = base / "wav" / name
        folder.mkdir(parents=True, exist_ok=True)
        rows[name] = []
        for i, utterance in enumerate(utterances):
            path = folder / f"{i:06d}.wav"
            write_wav(path, mix(utterance, load, mixing), rate)
            rows[name].append((_manifest_path(path, base, absolute), utterance.transcript,
                               " ".join(source.name for source in utterance.sources), f"{utterance.snr_db:.2f}"))
    written = {}
    for name in SPLITS:
        written[name] = out_dir / f"{name}.tsv"
        write_manifest(written[name], ("path", "transcript", "sources", "snr_db"), rows[name])
    return written


# --- the command line -------------------------------------------------------------------------------------------

def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """The rows of a manifest written here, as dicts keyed by the header."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def _summary(written: dict[str, Path], audio: bool) -> list[str]:
    lines = []
    for path in written.values():
        rows = read_manifest(path)
        line = f"  {path}: {len(rows)} {'utterances' if audio else 'recordings'}"
        if audio and rows:
            import soundfile

            wavs = [path.parent / row["path"] for row in rows]
            seconds = sum(soundfile.info(str(wav)).duration for wav in wavs)
            megabytes = sum(wav.stat().st_size for wav in wavs) / 1e6
            line += f", {seconds / 60:.1f} min of audio, {megabytes:.1f} MB (e.g. {rows[0]['transcript']!r})"
        lines.append(line)
    return lines


def _range(text: str) -> tuple[float, float]:
    parts = text.replace(",", " ").split()
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (two numbers), got {text!r}")
    return float(parts[0]), float(parts[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write leave-one-speaker-out manifests of the Free Spoken Digit "
                                                 "Dataset: isolated digits, or connected digit strings as WAVs.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("speakers", help="list the speakers and their numbers of recordings")
    isolated = commands.add_parser("isolated", help="one recording a row: train.tsv, valid.tsv, test.tsv")
    connected = commands.add_parser("connected", help="strings of 2-7 digits mixed with silences and noise, "
                                                      "written as WAVs, and their manifests")
    for command in (listing, isolated, connected):
        command.add_argument("--fsdd", type=Path, default=FSDD, help=f"the recordings folder (default {FSDD})")
    for command in (isolated, connected):
        command.add_argument("--out", type=Path, required=True, help="folder for the manifests (and wav/)")
        command.add_argument("--test-speaker", required=True, help="the held-out speaker, e.g. theo")
        command.add_argument("--valid-fraction", type=float, default=0.1,
                             help="share of each other speaker's recordings of each digit kept for validation "
                                  "(default 0.1: 5 of 50)")
        command.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
        command.add_argument("--absolute", action="store_true",
                             help="write absolute paths (default: relative to the manifest's folder)")
    connected.add_argument("--train", type=int, default=3000, help="training utterances (default 3000)")
    connected.add_argument("--valid", type=int, default=300, help="validation utterances (default 300)")
    connected.add_argument("--test", type=int, default=500, help="test utterances (default 500)")
    connected.add_argument("--min-digits", type=int, default=2, help="fewest digits in a string (default 2)")
    connected.add_argument("--max-digits", type=int, default=7, help="most digits in a string (default 7)")
    connected.add_argument("--rate", type=int, default=RATE, help=f"sample rate of the WAVs (default {RATE})")
    connected.add_argument("--gap-ms", type=_range, default=MIXING.gap_ms, metavar="LOW,HIGH",
                           help="silence between digits in ms (default 50,300)")
    connected.add_argument("--edge-ms", type=_range, default=MIXING.edge_ms, metavar="LOW,HIGH",
                           help="silence before the first and after the last digit in ms (default 0,200)")
    connected.add_argument("--gain-db", type=float, default=MIXING.gain_db,
                           help="each digit's level varies by up to ± this many dB (default 6)")
    connected.add_argument("--snr-db", type=_range, default=MIXING.snr_db, metavar="LOW,HIGH",
                           help="speech-to-noise ratio in dB (default 15,35; a negative low as --snr-db=-5,10)")
    connected.add_argument("--noise", choices=NOISES, nargs="+", default=list(MIXING.noises),
                           help="kinds of background noise to draw from (default: white pink)")
    args = parser.parse_args(argv)
    try:
        if args.command == "speakers":
            items = recordings(args.fsdd)
            for speaker in speakers(items):
                print(f"{speaker}\t{sum(r.speaker == speaker for r in items)}")
            return 0
        if args.command == "isolated":
            written = isolated_manifests(args.fsdd, args.out, args.test_speaker, args.valid_fraction, args.seed,
                                         args.absolute)
        else:
            mixing = Mixing(gap_ms=args.gap_ms, edge_ms=args.edge_ms, gain_db=args.gain_db, snr_db=args.snr_db,
                            noises=tuple(args.noise))
            written = connected_manifests(args.fsdd, args.out, args.test_speaker, args.train, args.valid,
                                          args.test, args.seed, args.min_digits, args.max_digits, args.rate,
                                          args.valid_fraction, mixing, args.absolute)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.command} digits, test speaker {args.test_speaker}, seed {args.seed}:")
    print("\n".join(_summary(written, audio=args.command == "connected")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
