"""Tagged-sentence readers (conll, jsonl, npz, text): what they read, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.formats.tagged import read_tagged
from rnnkit.errors import RnnkitError

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_2003_layout(tmp_path):
    data = read_tagged(_write(tmp_path, "eng.train", CONLL))
    assert [s.tokens for s in data.sentences] == [("EU", "rejects", "German", "call"), ("Peter", "Blackburn")]
    assert data.sentences[0].tags == ("I-ORG", "O", "I-MISC", "O")
    assert data.sentences[1].lines == (8, 9) and data.sentences[1].where.endswith("eng.train:8")
    chunks = read_tagged(_write(tmp_path, "c.conll", CONLL), tag_column=3).sentences[0].tags
    assert chunks == ("B-NP", "B-VP", "B-NP", "I-NP")


def test_tab_separated_lines_keep_spaces_in_tokens_and_whitespace_lines_separate(tmp_path):
    data = read_tagged(_write(tmp_path, "w.conll", "New York\tB-location\nrocks\tO\n\t\nok\tO\n"))
    assert [s.tokens for s in data.sentences] == [("New York", "rocks"), ("ok",)]


def test_jsonl_npz_and_text(tmp_path):
    rows = [{"tokens": ["Ann", "sings"], "tags": ["B-PER", "O"]}, {"tokens": ["x"], "tags": ["O"]}]
    path = _write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert [s.tags for s in read_tagged(path).sentences] == [("B-PER", "O"), ("O",)]
    np.savez(tmp_path / "f.npz", x=np.arange(10.0).reshape(5, 2), lengths=[2, 3], y=[0, 1, 1, 0, 1],
             label_names=np.array(["rest", "move"]))
    data = read_tagged(tmp_path / "f.npz")
    assert data.kind == "features" and data.sentences[1].tags == ("move", "rest", "move")
    text = read_tagged(_write(tmp_path, "t.txt", "Ann sings\n\n  Bob  hums \n"), require_tags=False)
    assert [s.tokens for s in text.sentences] == [("Ann", "sings"), ("Bob", "hums")]


@pytest.mark.parametrize("name,text,message", [
    ("a.conll", "EU B-ORG\nrejects VBZ O\n", r"a.conll:2: 3 column\(s\), but line 1 has 2"),
    ("b.conll", "\n\n-DOCSTART- O\n\n", "b.conll: no sentence in the file"),
    ("c.conll", "", "the file is empty"),
    ("d.conll", "EU\nrejects\n", "d.conll:1: one column only, so no tags"),
    ("e.conll", "E\x07U O\n", r"e.conll:1: the token 'E\\x07U' holds the control character U\+0007"),
    ("f.jsonl", '{"tokens": [], "tags": []}\n', "f.jsonl:1: an empty sentence"),
    ("g.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n', "g.jsonl:1: 'tags' must be a list of 2"),
    ("h.jsonl", '{"tokens": ["New York"], "tags": ["O"]}\n', "h.jsonl:1: token 1 .* holds whitespace"),
    ("i.conll", "EU O\n", "no tag column 5"),
])
def test_bad_files_give_one_line_errors(tmp_path, name, text, message):
    path = _write(tmp_path, name, text)
    with pytest.raises(RnnkitError, match=message) as err:
        read_tagged(path, tag_column=5 if name == "i.conll" else None)
    assert "\n" not in str(err.value)


def test_npz_with_one_label_per_sequence_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.zeros((5, 2)), lengths=[2, 3], y=[0, 1])
    with pytest.raises(RnnkitError, match="one entry per sequence .* tagging needs one per step"):
        read_tagged(tmp_path / "c.npz")


def test_a_sentence_of_5000_tokens_reads(tmp_path):
    path = _write(tmp_path, "long.conll", "".join(f"w{i} O\n" for i in range(5000)))
    assert len(read_tagged(path).sentences[0]) == 5000


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_text_reads_or_fails_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "x.conll"
    path.write_text(text, encoding="utf-8")
    try:
        data = read_tagged(path)
    except RnnkitError as e:
        assert "\n" not in str(e)
    else:
        assert all(len(s.tokens) == len(s.tags) > 0 for s in data.sentences)
