"""A many-to-many (``T_x = T_y``) recurrent tagger: one tag per input step (named entities, chunks, POS).

For the words ``x<1> … x<T_x>`` of a sentence::

    w<t> = [E_word x<t>, r(x<t>)]            word embedding and the character-aware representation
    a<t> = BiRNN(dropout(w<t>))              L layers of any cell, both directions
    e<t> = W_ya dropout(a<t>) + b_y          per-step tag scores (K,)

then either ``ŷ<t> = softmax(e<t>)`` with the cross-entropy summed over steps (``decoder="softmax"``), or a
linear-chain CRF over the scores (``decoder="crf"``, :mod:`rnnkit.models.crf`): the loss ``−log P(y | x)`` of
the whole tag sequence, decoded by Viterbi. Either way decoding never emits a sequence the tag scheme forbids
(``I-X`` after ``O`` in IOB2, ``B-X`` not closed in BIOES): the softmax decoder takes the best *valid* path
under its per-step log-probabilities.

The character-aware representation (Lample et al. 2016): a bidirectional LSTM reads the word's letters,
``r(x) = [a→<last letter>, a←<first letter>]`` (2·``char_hidden``), so unseen and rare words keep their
spelling, casing and affixes. While training, a word seen once in the training data is replaced by ``<UNK>``
with probability ``unk_replace``, so the ``<UNK>`` vector is learned from words like the unseen ones, and any
word with probability ``word_dropout``, so the tagger learns to read words from their letters alone.

Inputs are word ids (``vocab_size``) with optional characters, or feature vectors (``num_features``,
standardised on the training data by a :class:`~rnnkit.models.features.FeatureTransform`).

Shapes (D = 2 if bidirectional, K = number of tags): x (B, T) ids or (B, T, F) features; lengths (B,);
``chars`` a :class:`WordChars`: ``ids`` (N, L_c) letters of the N distinct words of the batch, ``lengths`` (N,),
``rows`` (B, T) the row of each token's word; emissions (B, T, K); tags (B, T) ids.

Example::

    tagger = Tagger(["O", "B-PER", "I-PER"], scheme="iob2", vocab_size=100, char_vocab_size=30)
    e = tagger(ids, lengths, chars)                    # (B, T, 3)
    loss = tagger(ids, lengths, chars, tags).mean()    # per-sentence −log P(y | x), averaged
    paths = tagger.decode(e, lengths)                  # lists of tag ids, valid in IOB2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from rnnkit.cells import cell_factory
from rnnkit.data.schemes import SCHEMES, transitions
from rnnkit.layers import Recurrent
from rnnkit.losses import sequence_cross_entropy
from rnnkit.models.crf import CRF, constraint_scores, viterbi
from rnnkit.models.features import FeatureTransform
from rnnkit.models.pooling import valid_steps
from rnnkit.output import OutputLayer

DECODERS = ("crf", "softmax")


@dataclass
class WordChars:
    """The letters of a batch's distinct words: ``ids`` (N, L_c), ``lengths`` (N,), ``rows`` (B, T)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    rows: torch.Tensor

    def to(self, device) -> WordChars:
        return WordChars(self.ids.to(device), self.lengths.to(device), self.rows.to(device))


@dataclass
class TaggerConfig:
    """Everything needed to rebuild a :class:`Tagger` (JSON-able); saved as ``config.json["model"]``."""

    tag_names: list[str]
    scheme: str = "none"
    hidden_size: int = 100
    num_layers: int = 1
    cell: str | None = "lstm"
    bidirectional: bool = True
    dropout: float = 0.5
    decoder: str = "crf"
    vocab_size: int | None = None
    embedding_size: int = 100
    unk_id: int | None = None
    unk_replace: float = 0.0
    word_dropout: float = 0.0
    char_vocab_size: int | None = None
    char_embedding: int = 25
    char_hidden: int = 25
    num_features: int | None = None
    cell_options: dict = field(default_factory=dict)


class CharEncoder(nn.Module):
    """``r(x) = [a→<last>, a←<first>]``: a bidirectional LSTM over each word's letters (see module doc)."""

    def __init__(self, num_chars: int, embedding_size: int, hidden_size: int, engine: str = "auto"):
        super().__init__()
        self.embedding = nn.Embedding(int(num_chars), int(embedding_size))   # letters past a word's end are
        # never read (lengths), so no id is reserved for padding
        self.rnn = Recurrent(cell_factory("lstm"), int(embedding_size), int(hidden_size), bidirectional=True,
                             batch_first=True, engine=engine)
        self.output_size = 2 * int(hidden_size)

    def forward(self, chars: WordChars) -> torch.Tensor:
        """(N, 2·H_c) for the N words."""
        a = self.rnn.outputs(self.embedding(chars.ids), chars.lengths)          # (N, L_c, 2·H_c)
        H = a.shape[2] // 2
        last = (chars.lengths - 1).view(-1, 1, 1).expand(-1, 1, H)
        forward_end = a[:, :, :H].gather(1, last).squeeze(1)                   # a→ after the last letter
        return torch.cat([forward_end, a[:, 0, H:]], dim=1)                     # a← after the first letter


class Tagger(nn.Module):
    """Per-step tags from a bidirectional recurrent stack, with a softmax or CRF decoder (see module doc)."""

    def __init__(self, tag_names, scheme: str = "none", hidden_size: int = 100, num_layers: int = 1, cell="lstm",
                 bidirectional: bool = True, dropout: float = 0.5, decoder: str = "crf",
                 vocab_size: int | None = None, embedding_size: int = 100,
                 unk_id: int | None = None, unk_replace: float = 0.0, word_dropout: float = 0.0,
                 char_vocab_size: int | None = None,
                 char_embedding: int = 25, char_hidden: int = 25, num_features: int | None = None,
                 cell_options: dict | None = None, engine: str = "auto"):
        super().__init__()
        tag_names = [str(t) for t in tag_names]
        if len(tag_names) < 1 or len(set(tag_names)) != len(tag_names):
            raise ValueError(f"tag_names must be distinct names, at least one, got {tag_names}")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if (vocab_size is None) == (num_features is None):
            raise ValueError("give exactly one of vocab_size (word ids) and num_features (feature vectors)")
        if char_vocab_size is not None and vocab_size is None:
            raise ValueError("characters (char_vocab_size) go with word ids (vocab_size)")
        for name, p in (("unk_replace", unk_replace), ("word_dropout", word_dropout)):
            if not 0 <= float(p) < 1 or (p and unk_id is None):
                raise ValueError(f"{name} must be in [0, 1) and needs unk_id, got {p} and unk_id {unk_id}")
        factory = cell_factory(cell) if isinstance(cell, str) else cell
        self.config = TaggerConfig(tag_names, scheme, int(hidden_size), int(num_layers),
                                   cell if isinstance(cell, str) else None, bool(bidirectional), float(dropout),
                                   decoder, vocab_size, int(embedding_size), unk_id, float(unk_replace),
                                   float(word_dropout), char_vocab_size, int(char_embedding), int(char_hidden),
                                   num_features, dict(cell_options or {}))
        K = len(tag_names)
        self.embedding = self.chars = self.features = None
        if vocab_size is not None:
            self.embedding = nn.Embedding(int(vocab_size), int(embedding_size))  # no padding id: padded steps
            # are never read, and every id (<UNK> too) keeps a learned vector
            input_size = int(embedding_size)
            # rare[v]: word v was seen once in training (filled by the task; saved with the weights)
            self.register_buffer("rare", torch.zeros(int(vocab_size), dtype=torch.bool))
            if char_vocab_size is not None:
                self.chars = CharEncoder(int(char_vocab_size), char_embedding, char_hidden, engine)
                input_size += self.chars.output_size
        else:
            self.features = FeatureTransform(int(num_features))
            input_size = self.features.output_size
        self.rnn = Recurrent(factory, input_size, int(hidden_size), num_layers=int(num_layers),
                             bidirectional=bool(bidirectional), dropout=float(dropout), batch_first=True,
                             engine=engine, **self.config.cell_options)
        self.drop = nn.Dropout(float(dropout))
        self.head = OutputLayer(self.rnn.num_directions * int(hidden_size), K)
        allowed, may_start, may_end = transitions(tag_names, scheme)
        if decoder == "crf":
            self.crf = CRF(K, allowed, may_start, may_end)
        else:
            self.crf = None
            for name, scores in zip(("transition_mask", "start_mask", "end_mask"),
                                    constraint_scores(K, allowed, may_start, may_end)):
                self.register_buffer(name, scores, persistent=False)

    @classmethod
    def from_config(cls, config: TaggerConfig | dict, cell=None, engine: str = "auto") -> Tagger:
        config = asdict(config) if isinstance(config, TaggerConfig) else dict(config)
        if cell is None and config.get("cell") is None:
            raise ValueError("this tagger was built with a cell factory of the user's own: pass it again, "
                             "Tagger.from_config(config, cell=my_factory)")
        if cell is not None:
            config["cell"] = cell
        return cls(**config, engine=engine)

    @property
    def tag_names(self) -> list[str]:
        return self.config.tag_names

    def inputs(self, x: torch.Tensor, lengths: torch.Tensor, chars: WordChars | None) -> torch.Tensor:
        """``w<t>`` (B, T, X): word vectors (with their characters' representation) or standardised features."""
        if self.features is not None:
            if x.dim() != 3:
                raise ValueError(f"this tagger reads feature vectors (B, T, F), got shape {tuple(x.shape)}")
            return self.features(x, lengths)
        if x.dim() != 2 or x.dtype.is_floating_point:
            raise ValueError(f"this tagger reads word ids (B, T), got shape {tuple(x.shape)} and dtype {x.dtype}")
        ids = x.masked_fill(~valid_steps(lengths, x.shape[1]), 0)             # any id: never read
        if self.training and (self.config.unk_replace > 0 or self.config.word_dropout > 0):
            u = torch.rand(ids.shape, device=ids.device)
            swap = (self.rare[ids] & (u < self.config.unk_replace)) | (u < self.config.word_dropout)
            ids = ids.masked_fill(swap, self.config.unk_id)
        w = self.embedding(ids)                                                   # (B, T, E)
        if self.chars is not None:
            if chars is None:
                raise ValueError("this tagger reads words' characters too: pass chars (a WordChars)")
            r = self.chars(chars)                                                 # (N, 2·H_c)
            w = torch.cat([w, r[chars.rows]], dim=2)
        return w

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, chars: WordChars | None = None,
                tags: torch.Tensor | None = None) -> torch.Tensor:
        """The emissions ``e<t>`` (B, T, K); with ``tags`` (B, T), each sentence's loss (B,) instead."""
        B, T = x.shape[:2]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=x.device)
        lengths = lengths.to(x.device).long()
        full = bool((lengths == T).all())
        w = self.drop(self.inputs(x, lengths, chars))
        a = self.rnn(w)[0] if full else self.rnn.outputs(w, lengths)             # (B, T, D·H)
        emissions = self.head(self.drop(a))                                       # (B, T, K)
        return emissions if tags is None else self.loss(emissions, tags, lengths)

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Each sentence's loss (B,): ``−log P(y | x)`` of the CRF, or ``Σ_t −log ŷ<t>[y<t>]`` of the softmax."""
        if self.crf is not None:
            return self.crf.nll(emissions, tags, lengths)
        steps = sequence_cross_entropy(emissions, tags.masked_fill(~valid_steps(lengths, tags.shape[1]), 0),
                                       lengths=lengths, batch_first=True, reduction="none")   # (T, B)
        return steps.sum(0)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor | None = None) -> list[list[int]]:
        """The best valid tag path of each sentence (lists of ``lengths[b]`` ids)."""
        B, T, _ = emissions.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long)
        lengths = lengths.to(emissions.device).long()
        if self.crf is not None:
            return self.crf.decode(emissions, lengths)
        log_p = torch.log_softmax(emissions.float(), dim=-1)
        return viterbi(log_p, lengths, self.transition_mask, self.start_mask, self.end_mask)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                chars: WordChars | None = None) -> list[list[str]]:
        """The tag names of each sentence."""
        was = self.training
        self.eval()
        paths = self.decode(self(x, lengths, chars), lengths)
        self.train(was)
        return [[self.tag_names[i] for i in p] for p in paths]
