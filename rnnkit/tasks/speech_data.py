"""Speech data: manifests → waveforms at the model's rate → (augmented) features and label ids, in batches.

Recordings are read once (:func:`rnnkit.audio.read_wav`: mono, float32), resampled to the run's sample rate
and kept in memory. Every batch is made from its waveforms afresh: while training, each utterance is
augmented (speed, noise, gain on the wave; SpecAugment on the features) with a generator seeded by
``(seed, epoch, utterance)`` only, so a resumed run sees exactly the batches the uninterrupted one saw, and two
processes augment as one does; then
the front end (:class:`rnnkit.audio.FrontEnd`) and the normalisation give the features the model reads.

Units: ``char`` (each character of the transcript, the space included, is a symbol) or ``word`` (each
whitespace-separated word). Symbol 0 is CTC's blank; symbol ``i ≥ 1`` is token ``i − 1`` of the run's
``vocab.json``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.audio import Augmenter, FrontEnd, read_wav, resample
from rnnkit.data import Vocab
from rnnkit.data.examples import Batch, ExampleBatches, pad_sequences
from rnnkit.data.formats.manifest import Utterance
from rnnkit.errors import RnnkitError

UNITS = ("char", "word")
BLANK = "<blank>"


class Units:
    """Transcripts ↔ CTC label ids (1 … C − 1; 0 is the blank)."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.kind = vocab.level

    @classmethod
    def build(cls, transcripts: list[str], kind: str) -> Units:
        if kind not in UNITS:
            raise RnnkitError(f"--units must be one of {', '.join(UNITS)}, got {kind!r}")
        tokens = [t for text in transcripts for t in cls._split(text, kind)]
        return cls(Vocab.build(tokens, kind, specials=[]))

    @staticmethod
    def _split(text: str, kind: str) -> list[str]:
        return list(text) if kind == "char" else text.split()

    @property
    def symbols(self) -> list[str]:
        """``[<blank>, token 1, …]``: the names of the model's C outputs."""
        return [BLANK, *self.vocab.tokens]

    @property
    def space(self) -> int | None:
        """The id of the space symbol (char units), else None."""
        i = self.vocab.stoi.get(" ")
        return None if i is None or self.kind != "char" else i + 1

    def labels(self, text: str) -> list[int] | None:
        """The label ids of ``text``, or None when a unit is not in the vocabulary."""
        ids = [self.vocab.stoi.get(t) for t in self._split(text, self.kind)]
        return None if any(i is None for i in ids) else [i + 1 for i in ids]

    def unknown(self, text: str) -> list[str]:
        return sorted({t for t in self._split(text, self.kind) if t not in self.vocab.stoi})

    def text(self, ids) -> str:
        tokens = [self.vocab.tokens[i - 1] for i in ids if i > 0]
        return "".join(tokens).strip() if self.kind == "char" else " ".join(tokens)


def most_common_rate(utterances: list[Utterance]) -> int:
    """The sample rate most of the recordings have (the model's rate when ``--sample-rate`` is not given)."""
    import soundfile

    rates = Counter()
    for u in utterances[:2000]:
        try:
            rates[soundfile.info(str(u.path)).samplerate] += 1
        except Exception:      # noqa: BLE001 — a bad file is reported, with its name, when it is read
            continue
    if not rates:
        load_waves(utterances[:1], 8000)                 # raises the clear error of the first file
    return rates.most_common(1)[0][0]


def load_waves(utterances: list[Utterance], rate: int, allow_silence: bool = False) -> list[np.ndarray]:
    """Every recording as float32 samples at ``rate``; a missing, unreadable or empty file, or (for training,
    without ``allow_silence``) one with no sound at all, is an error naming it and the manifest line."""
    waves = []
    for u in utterances:
        try:
            wave, r = read_wav(u.path)
        except RnnkitError as e:
            named = u.where and u.where != str(u.path)          # a manifest line, not the file itself
            raise RnnkitError(f"{u.where}: {e}" if named else str(e)) from None
        if r != rate:
            wave = resample(wave, r, rate)
        if not allow_silence and not bool(torch.any(wave != 0)):
            raise RnnkitError(f"{u.where}: {u.path} is silent (every sample is 0); remove it from the manifest")
        waves.append(wave.numpy().astype(np.float32, copy=False))
    return waves


@dataclass
class SpeechData:
    """Waveforms at the model's rate, label ids (None for unlabelled or unknown-unit transcripts) and the
    transcripts as read."""

    waves: list[np.ndarray]
    labels: list[list[int] | None]
    transcripts: list[str | None]
    utterances: list[Utterance]


def encode_utterances(utterances: list[Utterance], waves: list[np.ndarray], units: Units) -> SpeechData:
    labels = [units.labels(u.transcript) if u.transcript is not None else None for u in utterances]
    return SpeechData(waves, labels, [u.transcript for u in utterances], utterances)


class Features:
    """Waveforms → normalised features: the front end, then the run's normalisation."""

    def __init__(self, front_end: FrontEnd, normalizer):
        self.front_end, self.normalizer = front_end, normalizer

    def __call__(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            feats, frames = self.front_end(waves, lengths)
            return self.normalizer.apply(feats, frames), frames

    def frames(self, samples: int) -> int:
        return self.front_end.frames_for(int(samples))


class SpeechBatches:
    """Batches of utterances of similar length (see module doc): ``inputs`` (B, T, F) features, ``lengths``
    (B,) frames, ``targets`` (B, U) label ids (0-padded) with ``extra["target_lengths"]``.

    Utterances without label ids (unlabelled, or a unit outside the vocabulary at evaluation) get an empty
    target and ``target_lengths`` 0; the objective leaves them out of the loss.
    """

    def __init__(self, data: SpeechData, features: Features, batch_size: int, *, augmenter: Augmenter | None = None,
                 shuffle: bool = False, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.data, self.features, self.augmenter = data, features, augmenter
        self.seed, self.rank = int(seed), int(rank)
        self.inner = ExampleBatches([len(w) for w in data.waves], batch_size, self._collate, shuffle=shuffle,
                                    seed=seed, rank=rank, world_size=world_size)

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    @property
    def num_examples(self) -> int:
        return self.inner.num_examples

    def _collate(self, indices: list[int]) -> Batch:
        return Batch(torch.zeros(0), torch.zeros(len(indices), dtype=torch.long), None,
                     torch.tensor(indices, dtype=torch.long))

    def iter_from(self, start: int = 0, epoch: int = 0):
        for batch in self.inner.iter_from(start, epoch):
            yield self.make(batch.index.tolist(), batch.global_size, epoch if self.augmenter is not None else None)

    def __iter__(self):
        return self.iter_from(0)

    def _generator(self, epoch: int, i: int) -> torch.Generator:
        """Utterance ``i``'s draws in ``epoch``: from ``(seed, epoch, i)`` alone, so they are the same however the
        batch is split over processes and wherever a run resumes."""
        state = np.random.SeedSequence([self.seed, epoch, i]).generate_state(2)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def make(self, indices: list[int], global_size: int = 0, epoch: int | None = None) -> Batch:
        """The batch of the utterances at ``indices``, augmented as in ``epoch`` (None: not augmented)."""
        gens = [self._generator(epoch, i) for i in indices] if epoch is not None else None
        waves = [torch.from_numpy(self.data.waves[i]) for i in indices]
        if gens is not None:
            waves = [self.augmenter.wave(w, g) for w, g in zip(waves, gens)]
        padded, lengths = pad_sequences([w.numpy() for w in waves])
        feats, frames = self.features(padded, lengths)
        if gens is not None:
            for b, g in enumerate(gens):
                n = int(frames[b])
                feats[b, :n] = self.augmenter.features(feats[b, :n], g)
        labels = [self.data.labels[i] or [] for i in indices]
        targets, _ = pad_sequences([np.asarray(lab or [0], dtype=np.int64) for lab in labels])
        target_lengths = torch.tensor([len(lab) for lab in labels], dtype=torch.long)
        return Batch(feats, frames, targets, torch.tensor(indices, dtype=torch.long), global_size,
                     extra={"target_lengths": target_lengths})


def check_emittable(data: SpeechData, features: Features, frames_of, shortest_speed: float) -> None:
    """Every training transcript fits CTC: at least one output frame per label (and a blank between repeats)
    even after the fastest speed perturbation; otherwise an error naming the utterance."""
    from rnnkit.models.ctc import min_frames

    for u, w, lab in zip(data.utterances, data.waves, data.labels):
        samples = int(len(w) / shortest_speed)
        have = frames_of(features.frames(samples)) if samples > 0 else 0
        if features.frames(len(w)) < 1:
            raise RnnkitError(f"{u.where}: {u.path} is {len(w)} samples long, shorter than one analysis window; "
                              "remove it from the manifest")
        need = min_frames(lab)
        if have < need:
            raise RnnkitError(f"{u.where}: the transcript needs {need} output frames but {u.path} gives only "
                              f"{have}; use a smaller --stride (or --stride 1), fewer augmentation speeds, or "
                              "--units word")


def warn_unknown(data: SpeechData, units: Units, what: str) -> None:
    bad = [(u, units.unknown(u.transcript)) for u, lab in zip(data.utterances, data.labels)
           if lab is None and u.transcript is not None]
    if bad:
        u, unknown = bad[0]
        what = f"{what} " if what else ""
        warnings.warn(f"{len(bad)} {what}transcript(s) hold {units.kind}s the model has no symbol for (first: "
                      f"{u.where}: {', '.join(map(repr, unknown[:5]))}); they are scored but left out of the loss",
                      stacklevel=2)


__all__ = ["BLANK", "UNITS", "Features", "SpeechBatches", "SpeechData", "Units", "check_emittable",
           "encode_utterances", "load_waves", "most_common_rate", "warn_unknown"]
