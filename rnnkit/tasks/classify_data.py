"""Classification data: labelled examples → token ids or feature vectors → length-bucketed batches.

The same :class:`Encoder` turns examples into arrays at training, ``eval`` and ``predict`` time (tokens at
``char``, ``word`` or ``kmer`` level through the run's vocabulary, or feature vectors of the run's width; label
names to ids), so new files are read exactly as the training data was.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.data import Vocab
from rnnkit.data.examples import Batch, Example, ExampleBatches, pad_sequences
from rnnkit.data.formats import ExampleSet, read_examples
from rnnkit.data.tokenize import kmer_tokens, tokenize
from rnnkit.data.vocab import UNK
from rnnkit.errors import RnnkitError


def text_tokens(text: str, level: str, k: int = 3, lower: bool = False) -> list[str]:
    """The tokens of one text at ``level`` (``kmer``: overlapping k-mers of the characters)."""
    if lower:
        text = text.lower()
    if level == "kmer":
        return kmer_tokens(text, k)
    return tokenize(text, level)


@dataclass
class Encoded:
    """Examples as arrays: ``sequences`` (ids (T,) or features (T, F)), ``targets`` (class ids, or (K,)
    0/1 rows for multi-label; None when unlabelled)."""

    sequences: list[np.ndarray]
    targets: np.ndarray | None
    where: list[str]


class Encoder:
    """Turns examples into arrays the same way at training, ``eval`` and ``predict`` time."""

    def __init__(self, opts: dict, label_names: list[str], vocab: Vocab | None, num_features: int | None):
        self.opts, self.label_names, self.vocab, self.num_features = opts, label_names, vocab, num_features
        self.label_index = {name: i for i, name in enumerate(label_names)}

    def encode(self, examples: list[Example], source: str, labelled: bool = True) -> Encoded:
        seqs, where = [], []
        for ex in examples:
            if self.vocab is not None:
                if not isinstance(ex.sequence, str):
                    raise RnnkitError(f"{ex.where}: this model reads text, but the file holds feature vectors; "
                                      "give a text file (csv, tsv, jsonl, sst, fasta)")
                tokens = text_tokens(ex.sequence, self.opts["level"], self.opts["k"], self.opts["lower"])
                if not tokens:
                    raise RnnkitError(f"{ex.where}: the text has no tokens at --level {self.opts['level']}; "
                                      "drop the example or use another level")
                seqs.append(np.asarray(self.vocab.encode(tokens, unknown="unk"), dtype=np.int64))
            else:
                x = ex.sequence
                if isinstance(x, str):
                    raise RnnkitError(f"{ex.where}: this model reads feature vectors, but the file holds text; "
                                      "give an npz or ts file")
                if x.ndim != 2 or x.shape[1] != self.num_features:
                    raise RnnkitError(f"{ex.where}: {x.shape[1] if x.ndim == 2 else '?'} features per step, but "
                                      f"the model was trained on {self.num_features}; give data of the same layout")
                seqs.append(np.asarray(x, dtype=np.float32))
            where.append(ex.where)
        targets = self.targets(examples, source) if labelled else None
        return Encoded(seqs, targets, where)

    def targets(self, examples: list[Example], source: str) -> np.ndarray:
        K = len(self.label_names)
        if self.opts["multi_label"]:
            out = np.zeros((len(examples), K), dtype=np.float32)
            for i, ex in enumerate(examples):
                for name in as_labels(ex.label):
                    out[i, self._index(name, ex.where, source)] = 1.0
            return out
        out = np.zeros(len(examples), dtype=np.int64)
        for i, ex in enumerate(examples):
            if isinstance(ex.label, tuple):
                raise RnnkitError(f"{ex.where}: several labels, but the model is single-label; "
                                  "train with --multi-label for sets of labels")
            out[i] = self._index(ex.label, ex.where, source)
        return out

    def _index(self, name, where: str, source: str) -> int:
        if name is None:
            raise RnnkitError(f"{where}: the example has no label; every example of a labelled file needs one")
        try:
            return self.label_index[name]
        except KeyError:
            known = ", ".join(self.label_names[:12]) + (" …" if len(self.label_names) > 12 else "")
            raise RnnkitError(f"{where}: label {name!r} was never seen in training (the model knows {known}); "
                              f"remove those examples from {source} or train on data that has them") from None


def as_labels(label) -> tuple:
    if label is None:
        return ()
    return label if isinstance(label, tuple) else (label,)


def make_collate(enc: Encoded, multi_label: bool):
    """``collate(indices) -> Batch``: the examples at ``indices`` padded to the longest."""

    def collate(indices: list[int]) -> Batch:
        inputs, lengths = pad_sequences([enc.sequences[i] for i in indices])
        targets = None if enc.targets is None else torch.from_numpy(enc.targets[indices])
        return Batch(inputs, lengths, targets, torch.tensor(indices, dtype=torch.long), len(indices))

    return collate


def example_batches(enc: Encoded, batch_size: int, multi_label: bool, *, shuffle: bool = False, seed: int = 0,
                    rank: int = 0, world_size: int = 1) -> ExampleBatches:
    lengths = [len(s) for s in enc.sequences]
    return ExampleBatches(lengths, batch_size, make_collate(enc, multi_label), shuffle=shuffle, seed=seed,
                          rank=rank, world_size=world_size)



def read_set(files, opts: dict, require_labels: bool = True) -> ExampleSet:
    return read_examples(files, opts["format"], text_column=opts["text_column"], label_column=opts["label_column"],
                         labels_file=opts["labels_file"], multi_label=opts["multi_label"],
                         require_labels=require_labels)


def split_examples(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded random hold-out of ``fraction`` of the examples for validation."""
    if fraction == 0:
        return examples, []
    n_valid = round(len(examples) * fraction)
    if not 0 < n_valid < len(examples):
        raise RnnkitError(f"--valid-fraction {fraction} of {len(examples)} examples leaves an empty part; give "
                          "more data or a separate --valid file")
    perm = np.random.default_rng([seed, 0x5eed]).permutation(len(examples))
    valid = set(perm[:n_valid].tolist())
    return ([e for i, e in enumerate(examples) if i not in valid], [e for i, e in enumerate(examples) if i in valid])


def label_names_of(train_set: ExampleSet, examples: list[Example], multi_label: bool, files) -> list[str]:
    """The label names in id order: the file's own list (an npz's ``label_names``) or the sorted labels seen."""
    seen = sorted({name for e in examples for name in as_labels(e.label)}, key=_label_key)
    names = list(train_set.label_names) if train_set.label_names else seen
    where = ", ".join(map(str, files))
    if not multi_label and len(set(seen)) < 2:
        raise RnnkitError(f"{where}: every training example has the label {seen[0]!r}; a classifier needs at "
                          "least two classes" if seen else f"{where}: no labels")
    return names


def _label_key(name: str):
    """Numbers in numeric order (``2`` before ``10``), then other names alphabetically."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def build_vocab(examples: list[Example], opts: dict) -> Vocab:
    counts: Counter[str] = Counter()
    for e in examples:
        counts.update(text_tokens(e.sequence, opts["level"], opts["k"], opts["lower"]))
    return Vocab.build(counts, "char" if opts["level"] == "char" else "word", min_freq=opts["min_freq"],
                       max_size=opts["max_vocab"], specials=[UNK])
