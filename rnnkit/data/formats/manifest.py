"""Speech manifests: which recording says what, in ``tsv``, ``csv`` (with a header row) or ``jsonl``.

Each row names an audio file (``path``: absolute, or relative to the manifest's own folder) and its
``transcript``; other columns are ignored (DESIGN.md §6.1). ``--path-column`` and ``--transcript-column``
name other columns or keys. Transcripts are stripped and their runs of whitespace become one space.

Example (``train.tsv``)::

    path	transcript
    wav/0001.wav	seven three one
    /data/fsdd/7_jackson_32.wav	seven
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.formats.pairs import read_pairs
from rnnkit.data.text import as_path_list
from rnnkit.errors import RnnkitError

MANIFEST_FORMATS = ("tsv", "csv", "jsonl")


@dataclass
class Utterance:
    """A recording, what it says (None when unknown) and where the manifest names it (``"train.tsv:12"``)."""

    path: Path
    transcript: str | None
    where: str = ""


def read_manifest(paths: str | os.PathLike | Iterable[str | os.PathLike], format: str | None = None, *,
                  path_column: str = "path", transcript_column: str = "transcript",
                  require_transcript: bool = True) -> list[Utterance]:
    """The utterances of one or more manifests, file after file (see module doc)."""
    if format is not None and format not in MANIFEST_FORMATS:
        raise RnnkitError(f"unknown manifest format {format!r}; use one of: {', '.join(MANIFEST_FORMATS)}")
    files = as_path_list(paths)
    if not files:
        raise RnnkitError("no manifest given; give a tsv, csv or jsonl file with path and transcript columns")
    out = []
    for file in files:
        if Path(file).suffix.lower() == ".wav":
            raise RnnkitError(f"{file}: a WAV file, not a manifest; --data takes a tsv, csv or jsonl file with "
                              "'path' and 'transcript' columns (one row per recording)")
        for pair in read_pairs([file], format, source_column=path_column, target_column=transcript_column,
                               require_target=require_transcript, roles=("path", "transcript")):
            audio = Path(os.path.expanduser(pair.source))
            if not audio.is_absolute():
                audio = Path(file).parent / audio
            text = " ".join(pair.target.split()) if pair.target is not None else None
            out.append(Utterance(audio, text, pair.where))
    return out


__all__ = ["MANIFEST_FORMATS", "Utterance", "read_manifest"]
