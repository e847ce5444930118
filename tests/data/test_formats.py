"""Tests for rnnkit.data.formats: every reader on small hand-written files, and every error a user can cause."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.formats import FORMATS, ExampleSet, guess_format, read_examples
from rnnkit.errors import RnnkitError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def error(call, *parts: str) -> str:
    """The one-line message of the RnnkitError ``call()`` raises; it must contain every one of ``parts``."""
    with pytest.raises(RnnkitError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)
    return message


def pairs(data: ExampleSet) -> list[tuple]:
    return [(e.sequence, e.label) for e in data.examples]


# --- csv and tsv ----------------------------------------------------------------------------------------------

def test_csv_header_found_by_its_usual_names(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\nhello world,pos\n  spaced out ,  neg \n")
    data = read_examples(p)
    assert data.kind == "text" and data.label_names is None and data.num_features is None
    assert pairs(data) == [("hello world", "pos"), ("spaced out", "neg")]
    assert [e.where for e in data.examples] == [f"{p}:2", f"{p}:3"]


def test_csv_header_names_are_matched_in_any_case_and_order(tmp_path):
    p = write(tmp_path, "a.csv", "Class,id,Sentence\nspam,7,buy now\n")
    assert pairs(read_examples(p)) == [("buy now", "spam")]


def test_csv_columns_by_name_mean_a_header_row(tmp_path):
    p = write(tmp_path, "a.csv", "id,review,stars\n1,good film,5\n2,bad film,1\n")
    data = read_examples(p, text_column="review", label_column="stars")
    assert pairs(data) == [("good film", "5"), ("bad film", "1")]
    assert pairs(read_examples(p, text_column=" review ", label_column="stars")) == pairs(data)


@pytest.mark.parametrize("text_column, label_column", [(2, 1), ("2", "1")])
def test_csv_columns_by_number_mean_no_header_row(tmp_path, text_column, label_column):
    p = write(tmp_path, "a.csv", "text,label\npos,a b c\n")
    data = read_examples(p, text_column=text_column, label_column=label_column)
    assert pairs(data) == [("label", "text"), ("a b c", "pos")]  # the first row is an example like the others


def test_csv_name_and_number_mixed_use_the_header(tmp_path):
    p = write(tmp_path, "a.csv", "a,b\nx,y\n")
    assert pairs(read_examples(p, text_column="b", label_column=1)) == [("y", "x")]


def test_csv_without_header_defaults_to_label_first_text_last(tmp_path):
    p = write(tmp_path, "a.csv", "EI, N-1, ACGT\nN,   N-2,  GGCC\n")
    assert pairs(read_examples(p)) == [("ACGT", "EI"), ("GGCC", "N")]


def test_csv_default_label_avoids_the_text_column(tmp_path):
    p = write(tmp_path, "a.csv", "hello,pos\nbye,neg\n")
    assert pairs(read_examples(p, text_column=1)) == [("hello", "pos"), ("bye", "neg")]
    assert pairs(read_examples(p, label_column=2)) == [("hello", "pos"), ("bye", "neg")]


def test_csv_quoting_commas_quotes_and_newlines(tmp_path):
    p = write(tmp_path, "a.csv", 'x,"a, ""b""\r\nc"\r\ny,plain\r\n')
    data = read_examples(p)
    assert pairs(data) == [('a, "b"\nc', "x"), ("plain", "y")]
    assert data.examples[1].where == f"{p}:3"  # the quoted newline counts as a line


def test_csv_blank_rows_are_skipped_and_line_numbers_kept(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\n\n   \n,\nok,1\n")
    assert [e.where for e in read_examples(p).examples] == [f"{p}:5"]


def test_csv_multi_label(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\nhi,b|a| b\nyo,c\n")
    assert pairs(read_examples(p, multi_label=True)) == [("hi", ("a", "b")), ("yo", ("c",))]
    assert pairs(read_examples(p)) == [("hi", "b|a| b"), ("yo", "c")]  # one label otherwise


def test_csv_labels_optional_for_prediction(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\nhi,\nyo,1\n")
    assert pairs(read_examples(p, require_labels=False)) == [("hi", None), ("yo", "1")]
    error(lambda: read_examples(p), f"{p}:2", "no label")


def test_csv_one_column_is_text_without_labels(tmp_path):
    p = write(tmp_path, "a.csv", "first thing\nsecond thing\n")
    assert pairs(read_examples(p, require_labels=False)) == [("first thing", None), ("second thing", None)]
    error(lambda: read_examples(p), f"{p}:1", "no label column", "--label-column")
    h = write(tmp_path, "h.csv", "text\nonly text\n")
    assert pairs(read_examples(h, require_labels=False)) == [("only text", None)]


def test_tsv_has_no_quoting(tmp_path):
    p = write(tmp_path, "a.tsv", 'sentence\tlabel\n"quoted" text, with comma\t1\n')
    assert pairs(read_examples(p)) == [('"quoted" text, with comma', "1")]


def test_csv_errors_name_file_line_and_column(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\nhi,1\n")
    error(lambda: read_examples(p, text_column="txt"), f"{p}:1", "no column named 'txt'", "'text', 'label'")
    error(lambda: read_examples(p, label_column="class"), "no column named 'class'", "'text', 'label'")
    error(lambda: read_examples(p, text_column=5, label_column=1), f"{p}:1", "text column 5 does not exist")
    error(lambda: read_examples(p, text_column=0), "start at 1")
    error(lambda: read_examples(p, text_column=1, label_column=1), "same column")
    q = write(tmp_path, "b.csv", "id,review\n1,good\n")
    error(lambda: read_examples(q, text_column="review"), f"{q}:1", "no label column", "'id', 'review'")
    r = write(tmp_path, "c.csv", "id,stars\n1,good\n")
    error(lambda: read_examples(r, label_column="stars"), f"{r}:1", "no text column", "--text-column")


def test_csv_empty_text_ragged_row_and_bad_quoting(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\nhi,1\n  ,0\n")
    error(lambda: read_examples(p), f"{p}:3", "text is empty")
    q = write(tmp_path, "b.csv", "a,1\nb,2\nc, d,3\n")
    error(lambda: read_examples(q), f"{q}:3", "3 fields", "has 2")
    r = write(tmp_path, "c.csv", 'a,1\n"b,2\nc,3\n')
    error(lambda: read_examples(r), f"{r}:2", "not valid CSV", "double quotes")
    h = write(tmp_path, "d.csv", "text,label\n\n")
    error(lambda: read_examples(h), str(h), "no examples")


# --- jsonl ----------------------------------------------------------------------------------------------------

def test_jsonl_values_and_label_types(tmp_path):
    lines = ['{"text": " hi there ", "label": " pos "}', "", '{"text": "n", "label": 1}',
             '{"text": "f", "label": 1.5}', '{"text": "b", "label": true, "other": [1]}']
    p = write(tmp_path, "a.jsonl", "\n".join(lines) + "\n")
    data = read_examples(p)
    assert pairs(data) == [("hi there", "pos"), ("n", "1"), ("f", "1.5"), ("b", "true")]
    assert [e.where for e in data.examples] == [f"{p}:1", f"{p}:3", f"{p}:4", f"{p}:5"]


def test_jsonl_keys_from_the_column_flags(tmp_path):
    p = write(tmp_path, "a.jsonl", json.dumps({"review": "fine\nfilm", "stars": "4"}) + "\n")
    assert pairs(read_examples(p, text_column="review", label_column="stars")) == [("fine\nfilm", "4")]
    error(lambda: read_examples(p, text_column=1, label_column="stars"), "give the key's name")


def test_jsonl_multi_label_from_a_list_or_bars(tmp_path):
    p = write(tmp_path, "a.jsonl", '{"text": "a", "label": ["z", "x", "z", 3]}\n{"text": "b", "label": "q|p"}\n')
    assert pairs(read_examples(p, multi_label=True)) == [("a", ("3", "x", "z")), ("b", ("p", "q"))]
    error(lambda: read_examples(p), f"{p}:1", "JSON list")  # a list is not one label


def test_jsonl_missing_labels(tmp_path):
    p = write(tmp_path, "a.jsonl", '{"text": "a", "label": null}\n{"text": "b", "y": 1}\n{"text": "c", "label": []}\n')
    assert pairs(read_examples(p, require_labels=False, multi_label=True)) == [("a", None), ("b", None), ("c", None)]
    error(lambda: read_examples(p), f"{p}:1", "no label")
    q = write(tmp_path, "b.jsonl", '{"text": "b", "y": 1}\n')
    error(lambda: read_examples(q), f"{q}:1", "no key 'label'", "'text', 'y'", "--label-column")


def test_jsonl_errors(tmp_path):
    p = write(tmp_path, "a.jsonl", '{"text": "a", "label": 1}\n{"text": "b", label: 2}\n')
    error(lambda: read_examples(p), f"{p}:2", "not valid JSON")
    q = write(tmp_path, "b.jsonl", '["a", 1]\n')
    error(lambda: read_examples(q), f"{q}:1", "not an object")
    r = write(tmp_path, "c.jsonl", '{"sentence": "a", "label": 1}\n')
    error(lambda: read_examples(r), f"{r}:1", "no key 'text'", "'sentence', 'label'")
    s = write(tmp_path, "d.jsonl", '{"text": 5, "label": 1}\n')
    error(lambda: read_examples(s), f"{s}:1", "not a string")
    t = write(tmp_path, "e.jsonl", '{"text": "  ", "label": 1}\n')
    error(lambda: read_examples(t), f"{t}:1", "text is empty")
    u = write(tmp_path, "f.jsonl", '{"text": "a", "label": {"k": 1}}\n')
    error(lambda: read_examples(u), f"{u}:1", "dict")
    v = write(tmp_path, "g.jsonl", "[" * 100_000 + "\n")
    error(lambda: read_examples(v), f"{v}:1", "not valid JSON")


# --- sst ------------------------------------------------------------------------------------------------------

def test_sst_label_then_text(tmp_path):
    p = write(tmp_path, "train.sst", "1 a stirring , funny film\n\n0\tsoap  opera .  \n")
    data = read_examples(p)
    assert pairs(data) == [("a stirring , funny film", "1"), ("soap  opera .", "0")]
    assert data.examples[1].where == f"{p}:3"


def test_sst_multi_label_and_errors(tmp_path):
    p = write(tmp_path, "a.sst", "pos|funny a film\n")
    assert pairs(read_examples(p, multi_label=True)) == [("a film", ("funny", "pos"))]
    q = write(tmp_path, "b.sst", "1 fine\nlonely\n")
    error(lambda: read_examples(q), f"{q}:2", "no text")


# --- fasta ----------------------------------------------------------------------------------------------------

def test_fasta_wrapped_sequences_and_header_labels(tmp_path):
    p = write(tmp_path, "a.fa", ";comment\n>seq1 some description promoter\nACGT\nacg t\n\nTT\n>seq2 other\nGG\n")
    data = read_examples(p)
    assert pairs(data) == [("ACGTacgtTT", "promoter"), ("GG", "other")]
    assert [e.where for e in data.examples] == [f"{p}:2", f"{p}:7"]


def test_fasta_labels_file(tmp_path):
    p = write(tmp_path, "a.fasta", ">s1 promoter\nAC\n>s2\nGT\n")
    labels = write(tmp_path, "labels.tsv", "s2\tneg\n\ns1\tpos class\n")
    assert pairs(read_examples(p, labels_file=labels)) == [("AC", "pos class"), ("GT", "neg")]


def test_fasta_missing_labels(tmp_path):
    p = write(tmp_path, "a.fna", ">s1 promoter\nAC\n>s2\nGT\n")
    error(lambda: read_examples(p), f"{p}:3", "'s2'", "no label", "--labels")
    assert pairs(read_examples(p, require_labels=False)) == [("AC", "promoter"), ("GT", None)]
    labels = write(tmp_path, "labels.tsv", "s2\tneg\n")
    error(lambda: read_examples(p, labels_file=labels), f"{p}:1", "'s1'", "s1<TAB>label", str(labels))


def test_fasta_errors(tmp_path):
    p = write(tmp_path, "a.fa", ">s1 x\nAC\n>s2 y\n\n>s3 z\nG\n")
    error(lambda: read_examples(p), f"{p}:3", "'s2'", "empty sequence")
    q = write(tmp_path, "b.fa", "ACGT\n>s1 x\nAC\n")
    error(lambda: read_examples(q), f"{q}:1", "before the first '>'")
    r = write(tmp_path, "c.fa", ">\nAC\n")
    error(lambda: read_examples(r), f"{r}:1", "no id")
    s = write(tmp_path, "d.fa", "\n;only a comment\n")
    error(lambda: read_examples(s), str(s), "no '>' records")
    bad = write(tmp_path, "labels.tsv", "s1\n")
    error(lambda: read_examples(p, labels_file=bad), f"{bad}:1", "id<TAB>label")
    twice = write(tmp_path, "twice.tsv", "s1\ta\ns1\tb\n")
    error(lambda: read_examples(p, labels_file=twice), f"{twice}:2", "'s1'")


# --- npz ------------------------------------------------------------------------------------------------------

def save_npz(folder: Path, name="d.npz", **arrays) -> Path:
    path = folder / name
    np.savez(path, **arrays)
    return path


X = np.arange(12, dtype=np.float64).reshape(6, 2)  # sequences of 1, 2 and 3 steps
LENGTHS = np.array([1, 2, 3])


def test_npz_round_trip_with_label_names(tmp_path):
    p = save_npz(tmp_path, x=X, lengths=LENGTHS, y=np.array([2, 0, 2]), label_names=np.array(["sit", "walk", "run"]))
    data = read_examples(p)
    assert data.kind == "features" and data.num_features == 2 and data.label_names == ["sit", "walk", "run"]
    assert [e.label for e in data.examples] == ["run", "sit", "run"]
    assert [e.where for e in data.examples] == [f"{p}[0]", f"{p}[1]", f"{p}[2]"]
    seqs = [e.sequence for e in data.examples]
    assert all(s.dtype == np.float32 for s in seqs)
    np.testing.assert_array_equal(seqs[0], [[0, 1]])
    np.testing.assert_array_equal(seqs[1], [[2, 3], [4, 5]])
    np.testing.assert_array_equal(seqs[2], [[6, 7], [8, 9], [10, 11]])


def test_npz_without_label_names_and_without_y(tmp_path):
    p = save_npz(tmp_path, x=X.astype(np.int32), lengths=LENGTHS, y=np.array([1, 0, 7], dtype=np.uint8))
    data = read_examples(p)
    assert [e.label for e in data.examples] == ["1", "0", "7"] and data.label_names is None
    q = save_npz(tmp_path, "q.npz", x=X, lengths=LENGTHS)
    assert [e.label for e in read_examples(q, require_labels=False).examples] == [None, None, None]
    error(lambda: read_examples(q), str(q), "no key 'y'", "'x', 'lengths'")


BAD_NPZ = [
    ({"lengths": LENGTHS, "y": [0, 1, 0]}, "no key 'x'"),
    ({"x": X, "y": [0, 1, 0]}, "no key 'lengths'"),
    ({"x": X, "lengths": [1, 2, 2], "y": [0, 1, 0]}, "sums to 5 steps but 'x' has 6 rows"),
    ({"x": X, "lengths": [0, 3, 3], "y": [0, 1, 0]}, "'lengths' has 0 at sequence 0"),
    ({"x": X, "lengths": [4, -1, 3], "y": [0, 1, 0]}, "'lengths' has -1 at sequence 1"),
    ({"x": X, "lengths": np.array([], dtype=int), "y": []}, "'lengths' is empty"),
    ({"x": X, "lengths": [1.0, 2.0, 3.0], "y": [0, 1, 0]}, "'lengths' must be a 1-D integer array"),
    ({"x": X, "lengths": LENGTHS, "y": [0, 1]}, "'y' has 2 entries but 'lengths' has 3"),
    ({"x": X, "lengths": LENGTHS, "y": [0, 1, 0, 1, 0, 1]}, "one entry per step"),
    ({"x": X, "lengths": LENGTHS, "y": [0, 1, 2], "label_names": ["a", "b"]}, "'y' has 2 at sequence 2"),
    ({"x": X, "lengths": LENGTHS, "y": [0, -1, 0]}, "'y' has -1 at sequence 1"),
    ({"x": X, "lengths": LENGTHS, "y": [0.0, 1.0, 0.0]}, "'y' must be a 1-D integer array"),
    ({"x": X, "lengths": LENGTHS, "y": [0, 1, 0], "label_names": ["a", "a"]}, "'label_names' has an empty or repeat"),
    ({"x": X, "lengths": LENGTHS, "y": [0, 1, 0], "label_names": [1, 2]}, "'label_names' must be a non-empty"),
    ({"x": np.where(X == 7, np.nan, X), "lengths": LENGTHS, "y": [0, 1, 0]}, "'x' has NaN or infinite values "
                                                                             "(first at row 3"),
    ({"x": np.where(X == 2, np.inf, X), "lengths": LENGTHS, "y": [0, 1, 0]}, "first at row 1"),
    ({"x": np.where(X == 0, 1e300, X), "lengths": LENGTHS, "y": [0, 1, 0]}, "first at row 0"),
    ({"x": X.ravel(), "lengths": [12], "y": [0]}, "'x' must be a 2-D numeric array"),
    ({"x": X.astype(str), "lengths": LENGTHS, "y": [0, 1, 0]}, "'x' must be a 2-D numeric array"),
    ({"x": np.zeros((6, 0)), "lengths": LENGTHS, "y": [0, 1, 0]}, "0 features"),
]


@pytest.mark.parametrize("arrays, message", BAD_NPZ, ids=[m for _, m in BAD_NPZ])
def test_npz_bad_arrays_name_the_key(tmp_path, arrays, message):
    p = save_npz(tmp_path, **{k: np.asarray(v) for k, v in arrays.items()})
    error(lambda: read_examples(p), str(p), message)


def test_npz_pickled_objects_are_refused_never_loaded(tmp_path):
    objects = np.array([np.zeros((2, 2)), np.zeros((3, 2))], dtype=object)
    p = save_npz(tmp_path, x=objects, lengths=np.array([2, 3]), y=np.array([0, 1]))
    error(lambda: read_examples(p), str(p), "key 'x'", "pickled Python objects")
    q = save_npz(tmp_path, "q.npz", x=X, lengths=LENGTHS, y=np.array([0, 1, 0]), label_names=np.array(["a", None]))
    error(lambda: read_examples(q), str(q), "key 'label_names'", "pickled")
    npy = tmp_path / "pickled.npz"
    with open(npy, "wb") as f:
        np.save(f, objects, allow_pickle=True)  # a pickled .npy under an .npz name
    error(lambda: read_examples(npy), str(npy), "not an .npz archive")


def test_npz_broken_files(tmp_path):
    p = write(tmp_path, "junk.npz", b"PK\x03\x04 certainly not a zip file")
    error(lambda: read_examples(p), str(p), "not an .npz archive")
    e = write(tmp_path, "empty.npz", b"")
    error(lambda: read_examples(e), str(e), "empty")
    one = tmp_path / "one.npz"
    with open(one, "wb") as f:
        np.save(f, X)
    error(lambda: read_examples(one), str(one), "single .npy array")
    error(lambda: read_examples(tmp_path / "absent.npz"), "absent.npz", "no such file")
    good = save_npz(tmp_path, "good.npz", x=X, lengths=LENGTHS, y=np.array([0, 1, 0]))
    error(lambda: read_examples(good, multi_label=True), str(good), "multi-label")


def test_npz_files_must_agree(tmp_path):
    a = save_npz(tmp_path, "a.npz", x=X, lengths=LENGTHS, y=np.array([0, 1, 0]), label_names=np.array(["p", "q"]))
    b = save_npz(tmp_path, "b.npz", x=X, lengths=LENGTHS, y=np.array([0, 1, 0]), label_names=np.array(["q", "p"]))
    c = save_npz(tmp_path, "c.npz", x=np.zeros((6, 3)), lengths=LENGTHS, y=np.array([0, 1, 0]),
                 label_names=np.array(["p", "q"]))
    assert len(read_examples([a, a])) == 6
    error(lambda: read_examples([a, b]), str(b), "same label names")
    error(lambda: read_examples([a, c]), str(c), "3 features per step", "has 2")


# --- ts -------------------------------------------------------------------------------------------------------

TS_HEAD = "# a comment\n@problemName Toy\n@timeStamps false\n@missing false\n@univariate {uni}\n{dims}" \
          "@equalLength false\n@classLabel true up down flat\n@data\n"


def ts_file(folder: Path, body: str, uni="true", dims="", name="a.ts") -> Path:
    return write(folder, name, TS_HEAD.format(uni=uni, dims=dims) + body)


def test_ts_univariate_unequal_lengths(tmp_path):
    p = ts_file(tmp_path, "1.5,2,3:up\n\n4,5:down\n")
    data = read_examples(p)
    assert data.kind == "features" and data.num_features == 1 and data.label_names == ["up", "down", "flat"]
    assert [e.label for e in data.examples] == ["up", "down"]
    assert data.examples[0].sequence.dtype == np.float32
    np.testing.assert_array_equal(data.examples[0].sequence, [[1.5], [2], [3]])
    np.testing.assert_array_equal(data.examples[1].sequence, [[4], [5]])
    assert data.examples[1].where == f"{p}:11"


def test_ts_multivariate_is_time_by_dimension(tmp_path):
    p = ts_file(tmp_path, "1,2,3:4,5,6:flat\n7,8:9,10:up\n", uni="false", dims="@dimensions 2\n")
    data = read_examples(p)
    assert data.num_features == 2
    np.testing.assert_array_equal(data.examples[0].sequence, [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(data.examples[1].sequence, [[7, 9], [8, 10]])


def test_ts_unlabelled_file(tmp_path):
    p = write(tmp_path, "u.ts", "@problemName U\n@classLabel false\n@data\n1,2:3,4\n")
    data = read_examples(p, require_labels=False)
    assert [e.label for e in data.examples] == [None] and data.label_names is None
    np.testing.assert_array_equal(data.examples[0].sequence, [[1, 3], [2, 4]])
    error(lambda: read_examples(p), str(p), "no class labels")


@pytest.mark.parametrize("body, line, message", [
    ("1,?,3:up\n", 9, "missing values ('?')"),
    ("1,nan,3:up\n", 9, "NaN or infinite"),
    ("1,2:up\n1,x:down\n", 10, "'x', which is not a number"),
    ("1,,2:up\n", 9, "an empty value"),
    ("1,2:sideways\n", 9, "label 'sideways' is not among"),
    ("1,2\n", 9, "no class label"),
    ("1,2:\n", 9, "no label"),
    ("(0,1),(1,2):up\n", 9, "timestamped values"),
    ("1,2:3,4:up\n1:up\n", 9, "2 dimensions but the file has 1"),
    ("1,2:up\n@missing true\n", 10, "after @data"),
    ("1,1e39:up\n", 9, "beyond float32"),
])
def test_ts_bad_data_lines(tmp_path, body, line, message):
    p = ts_file(tmp_path, body)
    error(lambda: read_examples(p), f"{p}:{line}", message)


def test_ts_bad_headers(tmp_path):
    p = write(tmp_path, "a.ts", "@problemName A\n@data\n1,2:up\n")
    error(lambda: read_examples(p), f"{p}:2", "no @classLabel")
    q = write(tmp_path, "b.ts", "@timeStamps true\n@classLabel true a\n@data\n")
    error(lambda: read_examples(q), f"{q}:1", "timestamped series")
    r = write(tmp_path, "c.ts", "@classLabel true a\n1,2:a\n")
    error(lambda: read_examples(r), f"{r}:2", "before the @data")
    s = write(tmp_path, "d.ts", "@classLabel true a\n@data\n1,2,3:4,5:a\n")
    error(lambda: read_examples(s), f"{s}:3", "different lengths (3, 2)")
    t = write(tmp_path, "e.ts", "@classLabel true a\n@data\n\n")
    error(lambda: read_examples(t), str(t), "no series")
    u = write(tmp_path, "f.ts", "@univariate maybe\n")
    error(lambda: read_examples(u), f"{u}:1", "'true' or 'false'")
    v = write(tmp_path, "g.ts", "@targetLabel true\n@data\n1,2:0.5\n")
    error(lambda: read_examples(v), f"{v}:1", "regression")


# --- read_examples: guessing, several files, common errors ----------------------------------------------------

@pytest.mark.parametrize("name, fmt", [("a.csv", "csv"), ("A.TSV", "tsv"), ("a.jsonl", "jsonl"), ("a.sst", "sst"),
                                       ("stsa.binary.train", "sst"), ("x.fasta", "fasta"), ("x.fa", "fasta"),
                                       ("x.fna", "fasta"), ("d.npz", "npz"), ("Walk_TRAIN.ts", "ts")])
def test_guess_format(name, fmt):
    assert guess_format(name) == fmt


@pytest.mark.parametrize("name", ["notes.txt", "data.json", "splice.data", "README"])
def test_unknown_extensions_ask_for_format(name):
    error(lambda: guess_format(name), name, "--format")


def test_formats_constant():
    assert FORMATS == ("csv", "tsv", "jsonl", "sst", "fasta", "npz", "ts")


def test_several_files_are_concatenated(tmp_path):
    a = write(tmp_path, "a.csv", "text,label\nx,1\n")
    b = write(tmp_path, "b.csv", "y,2\nz,3\n")  # each file has its own header, or none
    assert pairs(read_examples([a, b], text_column=None)) == [("x", "1"), ("2", "y"), ("3", "z")]
    assert pairs(read_examples([str(a), b], "csv")) == [("x", "1"), ("2", "y"), ("3", "z")]
    c = write(tmp_path, "c.sst", "1 z\n")
    error(lambda: read_examples([a, c]), str(c), "looks like sst", "one format")


def test_common_errors(tmp_path):
    error(lambda: read_examples(tmp_path / "missing.csv"), "missing.csv", "no such file")
    error(lambda: read_examples([]), "no data files")
    e = write(tmp_path, "e.csv", b"")
    error(lambda: read_examples(e), str(e), "empty")
    latin = write(tmp_path, "l.sst", b"1 caf\xe9\n")
    error(lambda: read_examples(latin), str(latin), "not valid UTF-8")
    assert pairs(read_examples(latin, errors="replace")) == [("caf\ufffd", "1")]
    s = write(tmp_path, "s.sst", "1 a\n")
    error(lambda: read_examples(s, text_column=2), "--text-column", "not sst")
    error(lambda: read_examples(s, labels_file=s), "--labels", "not sst")
    error(lambda: read_examples(s, "xml"), "unknown format 'xml'")
    error(lambda: read_examples(s, errors="ignore"), "'ignore'", "'strict' or 'replace'")
    assert pairs(read_examples(s, "SST")) == [("a", "1")]


# --- the real data sets -----------------------------------------------------------------------------------------

@pytest.mark.skipif(not (SHARED_DATA / "dna" / "splice.data").exists(), reason="shared data not present")
def test_uci_splice_file():
    data = read_examples(SHARED_DATA / "dna" / "splice.data", "csv", text_column=3, label_column=1)
    assert len(data) == 2552 and data.kind == "text"
    assert {len(e.sequence) for e in data.examples} == {60}
    labels = [e.label for e in data.examples]
    assert (labels.count("EI"), labels.count("IE"), labels.count("N")) == (614, 614, 1324)
    assert pairs(data)[0] == ("GAAGCAAATCCCCGGAGAGGCAAGATGAGGTTCAGAAGGAATGCGGCTTCCTTCCCTGGG", "N")
    default = read_examples(SHARED_DATA / "dna" / "splice.data", "csv")  # label first, text last
    assert pairs(default) == pairs(data)


@pytest.mark.skipif(not (SHARED_DATA / "sst2" / "stsa.binary.train").exists(), reason="shared data not present")
def test_sst2_file_is_guessed_and_read():
    data = read_examples(SHARED_DATA / "sst2" / "stsa.binary.train")
    labels = [e.label for e in data.examples]
    assert len(data) == 6920 and (labels.count("0"), labels.count("1")) == (3310, 3610)
    assert data.examples[1].sequence == "apparently reassembled from the cutting-room floor of any given daytime soap ."
