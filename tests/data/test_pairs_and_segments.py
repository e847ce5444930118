"""Sentence pairs are read from the columns asked for, with clear errors; each segmentation level gives the
text back from its tokens."""

from __future__ import annotations

import pytest

from rnnkit.data.formats.pairs import read_pairs
from rnnkit.data.segment import SPACE, CharSegmenter, SubwordSegmenter, WordSegmenter
from rnnkit.errors import RnnkitError

SENTENCES = ["Il a dit : « non ».", "Don't panic, 3.14 is π!", "l'homme   qui rit", "  Go.  ", "Ça va ?"]


def test_tatoeba_layout_reads_either_direction(tmp_path):
    path = tmp_path / "fra.txt"
    path.write_text("Go.\tVa !\nHi.\tSalut !\n", encoding="utf-8")
    forward = read_pairs(path)
    assert [(p.source, p.target) for p in forward] == [("Go.", "Va !"), ("Hi.", "Salut !")]
    back = read_pairs(path, source_column=2, target_column=1)
    assert [(p.source, p.target, p.where) for p in back][1] == ("Salut !", "Hi.", f"{path}:2")


def test_header_names_csv_and_jsonl(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text('id,en,fr\n1,"Hello, you",Salut\n', encoding="utf-8")
    assert [(p.source, p.target) for p in read_pairs(csv, source_column="fr", target_column="en")] == \
        [("Salut", "Hello, you")]
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"source": "a b", "target": "b a"}\n\n{"source": "c", "target": "c"}\n', encoding="utf-8")
    assert [(p.source, p.target) for p in read_pairs(jl)] == [("a b", "b a"), ("c", "c")]
    with pytest.raises(RnnkitError, match="jsonl files name their fields"):
        read_pairs(jl, source_column=1)


def test_sources_alone_for_prediction(tmp_path):
    one = tmp_path / "src.tsv"
    one.write_text("bonjour\nsalut\n", encoding="utf-8")
    assert [(p.source, p.target) for p in read_pairs(one, require_target=False)] == [("bonjour", None),
                                                                                       ("salut", None)]
    with pytest.raises(RnnkitError, match=r"src.tsv:1: the target column 2 does not exist: the row has 1 column"):
        read_pairs(one)
    with pytest.raises(RnnkitError, match="cannot tell the format"):
        read_pairs(tmp_path / "x.dat")


@pytest.mark.parametrize("segmenter", [CharSegmenter(), WordSegmenter()], ids=["char", "word"])
def test_char_and_word_tokens_join_back(segmenter):
    for s in SENTENCES:
        assert segmenter.text(segmenter.tokens(s)) == " ".join(s.split())


def test_word_tokens_mark_what_follows_a_space():
    assert WordSegmenter().tokens("Go. I'm here!") == [f"{SPACE}Go", ".", f"{SPACE}I'm", f"{SPACE}here", "!"]


def test_subword_pieces_are_learned_saved_and_join_back(tmp_path):
    pytest.importorskip("sentencepiece")
    seg = SubwordSegmenter.train(SENTENCES * 20, vocab_size=60)
    seg.save(tmp_path / "m.spm")
    again = SubwordSegmenter.load(tmp_path / "m.spm")
    for s in SENTENCES:
        assert again.tokens(s) == seg.tokens(s)
        assert again.text(again.tokens(s)) == " ".join(s.split())
    (tmp_path / "bad.spm").write_bytes(b"not a model")
    with pytest.raises(RnnkitError, match="bad.spm: not a sentencepiece model"):
        SubwordSegmenter.load(tmp_path / "bad.spm")
