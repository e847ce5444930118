"""Reversible segmentation of sentences into tokens, for the encoder–decoder: ``char``, ``word``, ``subword``.

A translation is written as tokens and read as text, so each level turns text into tokens *and back*
(``text(tokens(s)) == s`` up to runs of whitespace), which is what BLEU and chrF score (sacrebleu reads
detokenised text):

- ``char``: one token per code point, the space included;
- ``word``: words (apostrophes inside kept, ``l'homme``, ``don't``), numbers and each other non-space
  character; a token that follows a space is marked with ``▁`` (U+2581) as sentencepiece does, so ``"Go."``
  is ``["▁Go", "."]`` and joins back without guessing where spaces were;
- ``subword``: sentencepiece's unigram model (Kudo 2018), trained on the training sentences with the
  ``vocab_size`` asked for (fewer when the data has fewer pieces to offer), and saved in the run as a
  ``.spm`` file (sentencepiece's own protobuf; no pickle).

Example::

    >>> seg = WordSegmenter()
    >>> seg.tokens("Il a dit : « non ».")
    ['▁Il', '▁a', '▁dit', '▁:', '▁«', '▁non', '▁»', '.']
    >>> seg.text(seg.tokens("Il a dit : « non »."))
    'Il a dit : « non ».'
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write

LEVELS = ("char", "word", "subword")
SPACE = "\u2581"                                     # ▁, the mark of a token that follows a space
_WORD = re.compile(r"\d+(?:[.,]\d+)+|\w+(?:['’]\w+)*|[^\w\s]")


class CharSegmenter:
    level = "char"
    vocab_level = "char"

    def tokens(self, text: str) -> list[str]:
        return list(" ".join(text.split()))

    def text(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)


class WordSegmenter:
    level = "word"
    vocab_level = "word"

    def tokens(self, text: str) -> list[str]:
        out, end = [], 0
        for m in _WORD.finditer(text):
            spaced = m.start() == 0 or m.start() > end
            out.append(SPACE + m.group() if spaced else m.group())
            end = m.end()
        return out

    def text(self, tokens: Iterable[str]) -> str:
        return "".join(tokens).replace(SPACE, " ").strip()


class SubwordSegmenter:
    """sentencepiece pieces; :meth:`train` learns them from sentences, :meth:`load` reads a saved model."""

    level = "subword"
    vocab_level = "word"

    def __init__(self, model: bytes):
        import sentencepiece as spm

        self.model = bytes(model)
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(self.model)
        except (RuntimeError, OSError) as e:
            raise RnnkitError(f"not a sentencepiece model ({e})") from None

    @classmethod
    def train(cls, sentences: list[str], vocab_size: int, model_type: str = "unigram") -> SubwordSegmenter:
        try:
            import sentencepiece as spm
        except ImportError:
            raise RnnkitError("subword tokens need sentencepiece: pip install 'rnnkit[translate]' (or pass "
                              "--level word or char)") from None
        buf = io.BytesIO()
        chars = len(set("".join(sentences)))
        size = max(int(vocab_size), chars + 4)       # room for every character, <unk> and the word marks
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=buf, vocab_size=size, model_type=model_type,
                character_coverage=1.0, hard_vocab_limit=False, bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
                num_threads=1, minloglevel=2, max_sentence_length=1 << 16, input_sentence_size=2_000_000,
                shuffle_input_sentence=False, split_digits=True)
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else "no reason given"
            raise RnnkitError(f"sentencepiece could not learn {vocab_size} pieces from the training text ({reason}); "
                              "use a smaller --vocab-size or --level word") from None
        return cls(buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> SubwordSegmenter:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise RnnkitError(f"{path}: cannot read the sentencepiece model ({e.strerror})") from None
        try:
            return cls(data)
        except RnnkitError as e:
            raise RnnkitError(f"{path}: {e}") from None

    def save(self, path: str | os.PathLike) -> None:
        atomic_write(Path(path), self.model)

    def tokens(self, text: str) -> list[str]:
        return self.sp.encode(text, out_type=str)

    def text(self, tokens: Iterable[str]) -> str:
        return self.sp.decode_pieces(list(tokens))


Segmenter = CharSegmenter | WordSegmenter | SubwordSegmenter


def make_segmenter(level: str, sentences: list[str] | None = None, vocab_size: int = 8000,
                   path: str | os.PathLike | None = None) -> Segmenter:
    """A segmenter at ``level``; a subword one is learned from ``sentences`` or loaded from ``path``."""
    if level == "char":
        return CharSegmenter()
    if level == "word":
        return WordSegmenter()
    if level != "subword":
        raise RnnkitError(f"unknown level {level!r}; use one of: {', '.join(LEVELS)}")
    if path is not None:
        return SubwordSegmenter.load(path)
    return SubwordSegmenter.train(list(sentences or []), vocab_size)


__all__ = ["LEVELS", "SPACE", "CharSegmenter", "Segmenter", "SubwordSegmenter", "WordSegmenter", "make_segmenter"]
