"""Data for language models: text files, tokens, vocabularies, cached ids and truncated-BPTT batches.

Files → :func:`read_text` → :func:`tokenize` → :class:`Vocab` → :func:`encode_to_memmap` (ids, cached)
→ :func:`split` → :class:`StreamBatches` (``(x, y)`` of shape ``(B, T)``).
"""

from rnnkit.data.batching import StreamBatches, split
from rnnkit.data.cache import encode_to_memmap, ids_dtype
from rnnkit.data.corpus import (
    default_corpus,
    default_corpus_description,
    default_corpus_files,
    default_corpus_name,
)
from rnnkit.data.text import read_text
from rnnkit.data.tokenize import EOS, EOS_MODES, LEVELS, char_tokens, detokenize, tokenize, word_tokens
from rnnkit.data.vocab import UNK, Vocab

__all__ = [
    "EOS", "EOS_MODES", "LEVELS", "UNK", "StreamBatches", "Vocab", "char_tokens", "default_corpus",
    "default_corpus_description", "default_corpus_files", "default_corpus_name", "detokenize",
    "encode_to_memmap", "ids_dtype", "read_text", "split", "tokenize", "word_tokens",
]
