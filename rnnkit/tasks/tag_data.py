"""Tagging data: tagged sentences → word ids, letters and tag ids → length-bucketed batches.

The same :class:`TagEncoder` turns sentences into arrays at training, ``eval`` and ``predict`` time: words
through the run's vocabulary (lower-cased and with digits as ``0`` when the run says so; characters always as
written), their letters through the character vocabulary, tags from the input's scheme into the model's
(BIOES for chunk tags: :mod:`rnnkit.data.schemes`), so new files are read exactly as the training data was.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.data import Vocab
from rnnkit.data.examples import Batch, ExampleBatches, pad_sequences
from rnnkit.data.formats.tagged import Sentence
from rnnkit.data.schemes import OUTSIDE, check_tags, chunks, convert, detect_scheme
from rnnkit.data.vocab import UNK
from rnnkit.errors import RnnkitError

MAX_WORD_CHARS = 24          # the character path reads at most this many letters of a word (its first ones)
_DIGITS = re.compile(r"\d")


def word_form(token: str, lower: bool, zeros: bool) -> str:
    """The form of a token the word path looks up."""
    if lower:
        token = token.lower()
    return _DIGITS.sub("0", token) if zeros else token


def input_scheme(sentences: list[Sentence], declared: str | None, where: str) -> str:
    """The scheme the training tags are written in: the declared one (``--scheme``), else detected; every tag
    checked against it."""
    scheme = declared or detect_scheme([s.tags for s in sentences])
    if scheme == "mixed":
        raise RnnkitError(f"{where}: some tags have a B-/I- prefix and others are plain (besides O); give "
                          "--scheme none to read every tag as it is, or fix the tags")
    for s in sentences:
        check_tags(s.tags, scheme, s.token_where)
    return scheme


def model_scheme(scheme: str) -> str:
    """The scheme the model predicts in: BIOES for chunk tags (each tag says where in its chunk a token is),
    plain tags as they are."""
    return "none" if scheme == "none" else "bioes"


@dataclass
class EncodedTags:
    """Sentences as arrays: ``inputs`` (word ids (T,) or features (T, F)), ``tokens`` (the words as written,
    for their letters), ``targets`` (tag ids (T,) in the model's scheme, or None), ``gold`` (the tags as
    written in the file, for the metrics)."""

    inputs: list[np.ndarray]
    tokens: list[tuple[str, ...]] | None
    targets: list[np.ndarray] | None
    gold: list[tuple[str, ...]] | None
    where: list[str]


class TagEncoder:
    """Sentences → arrays, the same way at training, ``eval`` and ``predict`` time."""

    def __init__(self, opts: dict, tag_names: list[str], vocab: Vocab | None, chars: Vocab | None,
                 num_features: int | None):
        self.opts, self.tag_names, self.vocab, self.chars = opts, tag_names, vocab, chars
        self.num_features = num_features
        self.tag_index = {t: i for i, t in enumerate(tag_names)}
        self._letters: dict[str, np.ndarray] = {}

    @property
    def scheme(self) -> str:
        return self.opts["scheme"]

    def encode(self, sentences: list[Sentence], labelled: bool = True) -> EncodedTags:
        inputs, where = [], []
        for s in sentences:
            if self.vocab is not None:
                if not isinstance(s.tokens, tuple):
                    raise RnnkitError(f"{s.where}: this tagger reads words, but the file holds feature vectors; "
                                      "give a conll, jsonl or text file")
                forms = [word_form(t, self.opts["lower"], self.opts["zeros"]) for t in s.tokens]
                inputs.append(np.asarray(self.vocab.encode(forms, unknown="unk"), dtype=np.int64))
            else:
                if isinstance(s.tokens, tuple):
                    raise RnnkitError(f"{s.where}: this tagger reads feature vectors, but the file holds words; "
                                      "give an npz file")
                if s.tokens.shape[1] != self.num_features:
                    raise RnnkitError(f"{s.where}: {s.tokens.shape[1]} features per step, but the model was "
                                      f"trained on {self.num_features}; give data of the same layout")
                inputs.append(np.asarray(s.tokens, dtype=np.float32))
            where.append(s.where)
        tokens = [s.tokens for s in sentences] if self.vocab is not None else None
        if not labelled:
            return EncodedTags(inputs, tokens, None, None, where)
        gold, targets = [], []
        for s in sentences:
            if s.tags is None:
                raise RnnkitError(f"{s.where}: the sentence has no tags; every sentence of a labelled file needs "
                                  "them")
            check_tags(s.tags, self.scheme, s.token_where)
            gold.append(tuple(s.tags))
            internal = convert(s.tags, self.scheme, model_scheme(self.scheme)) if self.scheme != "none" else s.tags
            # a tag the model never saw (a type absent from training) counts as O in the loss; the metrics
            # compare the tags as written, so it still counts as missed
            targets.append(np.asarray([self.tag_index.get(t, self.tag_index.get(OUTSIDE, 0)) for t in internal],
                                      dtype=np.int64))
        return EncodedTags(inputs, tokens, targets, gold, where)

    def letters(self, token: str) -> np.ndarray:
        ids = self._letters.get(token)
        if ids is None:
            ids = np.asarray(self.chars.encode(list(token[:MAX_WORD_CHARS]), unknown="unk"), dtype=np.int64)
            self._letters[token] = ids
        return ids

    def decode(self, paths: list[list[int]]) -> list[list[str]]:
        """Predicted tag ids → tags in the input's scheme."""
        out = []
        for p in paths:
            tags = [self.tag_names[i] for i in p]
            out.append(tags if self.scheme == "none" else convert(tags, model_scheme(self.scheme), self.scheme))
        return out


def make_collate(enc: EncodedTags, encoder: TagEncoder):
    """``collate(indices) -> Batch``: padded word ids (or features), tags, and the letters of the distinct words."""

    def collate(indices: list[int]) -> Batch:
        inputs, lengths = pad_sequences([enc.inputs[i] for i in indices])
        targets = None
        if enc.targets is not None:
            targets, _ = pad_sequences([enc.targets[i] for i in indices])
        extra = {}
        if encoder.chars is not None:
            words: dict[str, int] = {}
            rows = np.zeros(inputs.shape[:2], dtype=np.int64)
            for b, i in enumerate(indices):
                for t, token in enumerate(enc.tokens[i]):
                    rows[b, t] = words.setdefault(token, len(words))
            char_ids, char_lengths = pad_sequences([encoder.letters(w) for w in words])
            extra = {"char_ids": char_ids, "char_lengths": char_lengths, "char_rows": torch.from_numpy(rows)}
        return Batch(inputs, lengths, targets, torch.tensor(indices, dtype=torch.long), len(indices), extra)

    return collate


def tag_batches(enc: EncodedTags, encoder: TagEncoder, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                rank: int = 0, world_size: int = 1) -> ExampleBatches:
    return ExampleBatches([len(x) for x in enc.inputs], batch_size, make_collate(enc, encoder), shuffle=shuffle,
                          seed=seed, rank=rank, world_size=world_size)


def build_vocabs(sentences: list[Sentence], opts: dict, with_chars: bool) -> tuple[Vocab, Vocab | None, Counter]:
    """The word vocabulary (forms as the word path sees them, min_freq applied, with ``<UNK>``), the letter
    vocabulary (with ``<UNK>``), and the words' counts."""
    counts: Counter[str] = Counter(word_form(t, opts["lower"], opts["zeros"]) for s in sentences for t in s.tokens)
    words = Vocab.build(counts, "word", min_freq=opts["min_freq"], specials=[UNK])
    chars = None
    if with_chars:
        letters = Counter(ch for s in sentences for t in s.tokens for ch in t[:MAX_WORD_CHARS])
        chars = Vocab.build(letters, "char", specials=[UNK])
    return words, chars, counts


def tag_names_of(sentences: list[Sentence], scheme: str) -> list[str]:
    """The model's tags: plain tags sorted (``O`` first); for chunk tags ``O``, then every BIOES position of
    every type seen in training (``B-``, ``I-``, ``E-``, ``S-`` of each), so any valid sequence can be decoded."""
    if model_scheme(scheme) == "none":
        return sorted({t for s in sentences for t in s.tags}, key=lambda t: (t != OUTSIDE, t))
    types = sorted({ty for s in sentences for ty, _, _ in chunks(s.tags, scheme)})
    return [OUTSIDE] + [f"{p}-{ty}" for ty in types for p in "BIES"]
