"""Fuzzing the format readers: any bytes, rows or arrays give examples or an RnnkitError, never another error; and
files written from random (text, label) pairs read back exactly."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rnnkit.data.formats import FORMATS, read_examples
from rnnkit.errors import RnnkitError

FUZZ = settings(max_examples=100, derandomize=True, deadline=None)
SUFFIX = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "sst": ".sst", "fasta": ".fa", "npz": ".npz", "ts": ".ts"}

PIECES = [b",", b"\t", b'"', b"\n", b"\r\n", b" ", b"|", b":", b"?", b">", b";", b"#", b"a", b"1", b"-2.5", b"text",
          b"label", b"{", b"}", b'"text"', b'"label"', b"[", b"]", b"null", b"@data\n", b"@classLabel true a 1\n",
          b"@classLabel false\n", b"@dimensions 2\n", b"@timeStamps true\n", b"(1,2)", b"nan", b"\xc3\xa9", b"\xff",
          b"\x00", b"\xef\xbb\xbf", b"PK\x03\x04", b"\x93NUMPY"]
FILE = st.one_of(st.binary(max_size=60), st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join))
COLUMN = st.one_of(st.none(), st.sampled_from(["text", "label", "b", "1", "0", "x y"]), st.integers(-1, 4))


def outcome(call):
    """``call()``'s ExampleSet, or None if it raised an RnnkitError (whose message must be one line)."""
    try:
        return call()
    except RnnkitError as e:
        assert "\n" not in str(e), str(e)
        return None


def check_examples(data, require_labels: bool, multi_label: bool) -> None:
    event("read" if data is not None else "refused")  # --hypothesis-show-statistics: both outcomes occur
    if data is None:
        return
    assert len(data) >= 1 and data.kind in ("text", "features")
    for e in data.examples:
        assert len(e.sequence) >= 1
        if data.kind == "text":
            assert isinstance(e.sequence, str) and e.sequence == e.sequence.strip()
        else:
            assert e.sequence.dtype == np.float32 and np.isfinite(e.sequence).all()
            assert e.sequence.shape[1] == data.num_features
        if e.label is None:
            assert not require_labels
        elif multi_label:
            assert isinstance(e.label, tuple) and list(e.label) == sorted(set(e.label)) and all(e.label)
        else:
            assert isinstance(e.label, str) and e.label == e.label.strip() and e.label


@FUZZ
@given(content=FILE, fmt=st.sampled_from(FORMATS), multi_label=st.booleans(), require_labels=st.booleans())
def test_any_bytes_give_examples_or_an_rnnkit_error(tmp_path_factory, content, fmt, multi_label, require_labels):
    path = tmp_path_factory.mktemp("f") / f"data{SUFFIX[fmt]}"
    path.write_bytes(content)
    data = outcome(lambda: read_examples(path, fmt, multi_label=multi_label, require_labels=require_labels))
    check_examples(data, require_labels, multi_label)


CELL = st.sampled_from(["", " ", "text", "label", "a", "b c", '"', "x|y", "|", "1", " 2 ", "\n", "é"])


@FUZZ
@given(rows=st.lists(st.lists(CELL, max_size=4), max_size=5), fmt=st.sampled_from(["csv", "tsv", "jsonl"]),
       text_column=COLUMN, label_column=COLUMN, multi_label=st.booleans(), require_labels=st.booleans())
def test_random_rows_give_examples_or_an_rnnkit_error(tmp_path_factory, rows, fmt, text_column, label_column,
                                                      multi_label, require_labels):
    out = io.StringIO()
    if fmt == "jsonl":
        keys = ["text", "label", "b", "1"]
        for row in rows:
            out.write(json.dumps({k: (v if i % 2 else [v]) for i, (k, v) in enumerate(zip(keys, row))}) + "\n")
    else:
        csv.writer(out, delimiter="," if fmt == "csv" else "\t").writerows(rows)
    path = tmp_path_factory.mktemp("r") / f"data{SUFFIX[fmt]}"
    path.write_text(out.getvalue(), encoding="utf-8")
    data = outcome(lambda: read_examples(path, fmt, text_column=text_column, label_column=label_column,
                                         multi_label=multi_label, require_labels=require_labels))
    check_examples(data, require_labels, multi_label)


DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_, "U3", object])


def _array(shape: tuple, dtype, fill) -> np.ndarray:
    if dtype is object:
        return np.array([fill] * int(np.prod(shape)), dtype=object)
    with np.errstate(invalid="ignore"):
        return np.full(shape, fill).astype(dtype)


ARRAY = st.builds(_array,
                  st.lists(st.integers(0, 4), min_size=0, max_size=2).map(tuple), DTYPES,
                  st.sampled_from([0, 1, 2, -1, 3.5, float("nan"), float("inf")]))


INTS = st.lists(st.integers(-1, 4), max_size=4).map(lambda v: np.array(v, dtype=np.int64))
NPZ = st.fixed_dictionaries({}, optional={
    "x": st.one_of(ARRAY, st.integers(0, 8).map(lambda n: np.ones((n, 2)))), "lengths": st.one_of(ARRAY, INTS),
    "y": st.one_of(ARRAY, INTS), "label_names": st.one_of(ARRAY, st.lists(st.sampled_from("abc"), max_size=3)
                                                           .map(lambda v: np.array(v, dtype=str))),
    "other": ARRAY})


@FUZZ
@given(arrays=NPZ, require_labels=st.booleans())
def test_random_npz_arrays_give_examples_or_an_rnnkit_error(tmp_path_factory, arrays, require_labels):
    path = tmp_path_factory.mktemp("n") / "data.npz"
    np.savez(path, **arrays)
    check_examples(outcome(lambda: read_examples(path, require_labels=require_labels)), require_labels, False)


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       truncate=st.one_of(st.none(), st.integers(0, 2_000)))
def test_damaged_npz_gives_an_rnnkit_error_or_valid_examples(tmp_path_factory, cuts, truncate):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.arange(20.0).reshape(10, 2), lengths=np.array([4, 6]), y=np.array([0, 1]),
                        label_names=np.array(["a", "b"]))
    data = bytearray(buffer.getvalue())
    for where, value in cuts:
        data[where % len(data)] = value
    path = tmp_path_factory.mktemp("d") / "data.npz"
    path.write_bytes(bytes(data[:truncate] if truncate is not None else data))
    check_examples(outcome(lambda: read_examples(path)), True, False)


# --- round trips ------------------------------------------------------------------------------------------------

# the characters that matter to the readers (delimiters, quotes, newlines, separators, other whitespace, non-ASCII)
CHARS = list("ab Z09,;\t\n\"'|:>#@{}[]\\/é日😀") + ["\u2028", "\x85", "\u3000", "\x1c", "\u200b"]
STRIPPED = st.text(CHARS, min_size=1, max_size=20).map(str.strip).filter(bool)
ONE_LINE = st.text([c for c in CHARS if not c.isspace() and c not in "\x1c\x85"], min_size=1, max_size=12)
PAIRS = st.lists(st.tuples(STRIPPED, STRIPPED), min_size=1, max_size=6)


@FUZZ
@given(pairs=PAIRS, by_number=st.booleans())
def test_csv_round_trip(tmp_path_factory, pairs, by_number):
    out = io.StringIO()
    writer = csv.writer(out)
    if not by_number:
        writer.writerow(["label", "text"])
    writer.writerows([(label, text) for text, label in pairs])
    path = tmp_path_factory.mktemp("c") / "data.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    columns = {"text_column": 2, "label_column": 1} if by_number else {}
    data = read_examples(path, **columns)
    assert [(e.sequence, e.label) for e in data.examples] == pairs


@FUZZ
@given(pairs=PAIRS, ascii_only=st.booleans())
def test_jsonl_round_trip(tmp_path_factory, pairs, ascii_only):
    path = tmp_path_factory.mktemp("j") / "data.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": lab}, ensure_ascii=ascii_only) + "\n"
                            for t, lab in pairs), encoding="utf-8")
    assert [(e.sequence, e.label) for e in read_examples(path).examples] == pairs


@FUZZ
@given(pairs=st.lists(st.tuples(STRIPPED.filter(lambda t: "\n" not in t), ONE_LINE), min_size=1, max_size=6))
def test_sst_round_trip(tmp_path_factory, pairs):
    path = tmp_path_factory.mktemp("s") / "data.sst"
    path.write_text("".join(f"{lab} {t}\n" for t, lab in pairs), encoding="utf-8")
    assert [(e.sequence, e.label) for e in read_examples(path).examples] == pairs
