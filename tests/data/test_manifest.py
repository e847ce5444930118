"""Speech manifests: paths relative to the manifest, tsv/csv/jsonl, other column names, clear errors."""

from __future__ import annotations

import pytest

from rnnkit.data.formats.manifest import read_manifest
from rnnkit.errors import RnnkitError


def test_paths_are_relative_to_the_manifest_and_transcripts_are_tidied(tmp_path):
    (tmp_path / "sub").mkdir()
    m = tmp_path / "sub" / "m.tsv"
    m.write_text("path\tspeaker\ttranscript\nwav/a.wav\tx\t  seven   three\n/abs/b.wav\ty\tone\n")
    u = read_manifest(m)
    assert u[0].path == tmp_path / "sub" / "wav" / "a.wav" and str(u[1].path) == "/abs/b.wav"
    assert [x.transcript for x in u] == ["seven three", "one"]
    assert u[0].where == f"{m}:2"


def test_csv_jsonl_and_other_column_names(tmp_path):
    (tmp_path / "m.csv").write_text("file,text\na.wav,two\n")
    u = read_manifest(tmp_path / "m.csv", path_column="file", transcript_column="text")
    assert u[0].path == tmp_path / "a.wav" and u[0].transcript == "two"
    (tmp_path / "m.jsonl").write_text('{"path": "a.wav", "transcript": "nine"}\n{"path": "b.wav"}\n')
    with pytest.raises(RnnkitError, match="m.jsonl:2.*transcript"):
        read_manifest(tmp_path / "m.jsonl")
    u = read_manifest(tmp_path / "m.jsonl", require_transcript=False)
    assert [x.transcript for x in u] == ["nine", None]


def test_errors_name_the_file_and_the_flag(tmp_path):
    (tmp_path / "m.tsv").write_text("file\ttext\na.wav\ttwo\n")
    with pytest.raises(RnnkitError, match=r"no column named 'path'.*--path-column"):
        read_manifest(tmp_path / "m.tsv")
    with pytest.raises(RnnkitError, match="a WAV file, not a manifest"):
        read_manifest(tmp_path / "a.wav")
    with pytest.raises(RnnkitError, match="unknown manifest format"):
        read_manifest(tmp_path / "m.tsv", "midi")
