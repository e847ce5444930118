"""The date-translation data of examples/dates_data.py: reproducible, held-out dates, never ambiguous.

The expected texts are written by hand from the CLDR formats of each locale, not produced by the module.
"""

from __future__ import annotations

import importlib.util
import random
from datetime import date, timedelta
from pathlib import Path

import pytest

pytest.importorskip("babel")

ROOT = Path(__file__).resolve().parents[2]


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"rnnkit_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dates = load_script("dates_data")

MARCH_5 = date(1996, 3, 5)  # a Tuesday
# (locale, format, date, text as written): by hand
KNOWN = [
    ("en_US", "long", MARCH_5, "March 5, 1996"),
    ("en_US", "medium", MARCH_5, "Mar 5, 1996"),
    ("en_US", "full", MARCH_5, "Tuesday, March 5, 1996"),
    ("en_GB", "short", MARCH_5, "05/03/1996"),
    ("en_GB", "long", MARCH_5, "5 March 1996"),
    ("fr_FR", "full", MARCH_5, "mardi 5 mars 1996"),
    ("de_DE", "short", MARCH_5, "05.03.96"),
    ("de_DE", "long", MARCH_5, "5. März 1996"),
    ("es_ES", "long", MARCH_5, "5 de marzo de 1996"),
    ("it_IT", "full", MARCH_5, "martedì 5 marzo 1996"),
    ("en_US", "y-MM-dd", MARCH_5, "1996-03-05"),
    ("fr_FR", "d/M/yy", MARCH_5, "5/3/96"),
    ("en_US", "EEE, d MMM y", date(2005, 12, 1), "Thu, 1 Dec 2005"),
    ("de_DE", "dd.MM.y", date(2049, 12, 31), "31.12.2049"),
    ("en_GB", "d MMM yy", date(1950, 1, 1), "1 Jan 50"),
]


def test_the_same_seed_gives_the_same_pairs_and_leaves_the_global_rng_alone():
    random.seed(123)
    state = random.getstate()
    first = dates.make_pairs(300, seed=5)
    assert random.getstate() == state
    assert first == dates.make_pairs(300, seed=5)
    assert first != dates.make_pairs(300, seed=6)
    assert all(iso == date.fromisoformat(iso).isoformat() for _, iso in first)
    assert dates.make_splits(200, 20, 30, seed=2) == dates.make_splits(200, 20, 30, seed=2)


def test_validation_and_test_dates_are_never_training_dates():
    splits = dates.make_splits(5000, 300, 600, seed=1)
    assert {name: len(pairs) for name, pairs in splits.items()} == {"train": 5000, "valid": 300, "test": 600}
    days = {name: {iso for _, iso in pairs} for name, pairs in splits.items()}
    assert len(days["test"]) == 600 and len(days["valid"]) == 300  # one held-out date per pair
    assert not days["train"] & days["test"] and not days["train"] & days["valid"] and not days["valid"] & days["test"]
    assert len(days["train"]) == 5000  # drawn without repetition while the remaining days last
    # the held-out sets depend on the seed and their sizes, not on the size of the training set
    assert dates.make_splits(10, 300, 600, seed=1)["test"] == splits["test"]


def test_every_split_is_written_in_every_locale():
    splits = dates.make_split_examples(3000, 500, 1000, seed=0)
    for examples in splits.values():
        assert {example.locale for example in examples} == set(dates.LOCALES)


def test_no_text_stands_for_two_dates():
    pairs = dates.make_pairs(4000, seed=7)
    dates.check_unambiguous(pairs, fold_case=True)
    splits = dates.make_splits(2000, 500, 500, seed=3)
    dates.check_unambiguous([pair for pairs in splits.values() for pair in pairs], fold_case=True)
    with pytest.raises(dates.AmbiguityError):
        dates.check_unambiguous([("03/05/1996", "1996-05-03"), ("03/05/1996", "1996-03-05")])
    with pytest.raises(dates.AmbiguityError):
        dates.check_unambiguous([("MAR 5, 1996", "1996-03-05"), ("mar 5, 1996", "1996-05-03")], fold_case=True)


def test_days_that_could_swap_with_months_or_years_never_share_a_text():
    # every format of every locale, case-folded, on the days whose day could be a month (1-12) and in the
    # years whose two digits could be a day or a month
    days = [date(year, month, day) for year in (1950, 2001, 2012, 2049) for month in range(1, 13)
            for day in range(1, 13)]
    assert dates.check_all_renderings(days) > len(days) * 50


def test_the_rules_drop_the_ambiguous_formats():
    for pattern in ("M/d/yy", "MM/dd/y", "yy-MM-dd", "y-dd-MM", "d/y/M", "ddMMy", "MMM yy d", "d MMM y EEEE",
                    "d MMMMM y"):
        assert not dates.pattern_is_unambiguous(pattern), pattern
    with pytest.raises(ValueError):
        dates.style_for("en_US", "short")  # M/d/yy
    assert not any(style.locale == "en_US" and style.format == "short" for style in dates.styles())
    assert all(dates.pattern_is_unambiguous(style.pattern) for style in dates.styles())
    # over more than 100 years a two-digit year would name two years: no "yy" then
    assert not any("yy" in style.pattern for style in dates.styles(two_digit_years=False))
    wide = dates.make_examples(1000, seed=0, start=date(1900, 1, 1), end=date(2049, 12, 31))
    allowed = {(style.locale, style.format) for style in dates.styles(two_digit_years=False)}
    assert {(example.locale, example.format) for example in wide} <= allowed
    assert min(example.iso for example in wide) < "1950"


def test_many_locales_formats_and_cases_appear():
    examples = dates.make_examples(3000, seed=0)
    assert {"en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT"} <= {example.locale for example in examples}
    assert len({example.format for example in examples}) >= 10
    assert set(dates.NAMED_FORMATS) <= {example.format for example in examples}
    assert {example.case for example in examples} == {"as written", "lower", "upper"}
    assert any(example.text.isupper() for example in examples) and any(example.text.islower() for example in examples)
    assert all(date(1950, 1, 1).isoformat() <= example.iso <= date(2049, 12, 31).isoformat() for example in examples)


@pytest.mark.parametrize("locale, format, day, text", KNOWN)
def test_known_texts(locale, format, day, text):
    style = dates.style_for(locale, format)
    assert dates.render(day, style) == text
    assert dates.render(day, style, "upper") == text.upper()
    assert dates.render(day, style, "lower") == text.lower()


def test_known_texts_read_back_as_their_date():
    days = [MARCH_5 + timedelta(days=i) for i in range(-3, 4)] + [date(1996, 5, 3), date(2005, 12, 1)]
    days += [date(2049, 12, 31), date(1950, 1, 1)]
    reading = {dates.render(day, style, case): day.isoformat()
               for style in dates.styles() for day in days for case in dates.CASES}
    for _, _, day, text in KNOWN:
        assert reading[text] == day.isoformat()
    assert reading["3/5/96"] == "1996-05-03"  # day first: never en_US's March 5
    assert reading["03/05/1996"] == "1996-05-03"
    assert reading["TUESDAY, MARCH 5, 1996"] == "1996-03-05"
    assert reading["5 mars 1996"] == "1996-03-05"


def test_main_writes_three_tsv_files(tmp_path, capsys):
    out = tmp_path / "dates"
    assert dates.main(["--out", str(out), "--train", "60", "--valid", "10", "--test", "20", "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    assert "train 60, valid 10, test 20" in printed
    assert len(printed.splitlines()) == 11  # the counts, then 10 sample pairs
    expected = dates.make_splits(60, 10, 20, seed=4)
    for name, size in (("train", 60), ("valid", 10), ("test", 20)):
        lines = (out / f"{name}.tsv").read_text(encoding="utf-8").split("\n")
        assert lines[-1] == "" and len(lines) == size + 1
        assert [tuple(line.split("\t")) for line in lines[:-1]] == expected[name]


def test_write_tsv_refuses_tabs_and_line_breaks(tmp_path):
    for bad in ("5\tmars 1996", "5 mars\n1996", "5 mars\r1996", ""):
        with pytest.raises(ValueError):
            dates.write_tsv([(bad, "1996-03-05")], tmp_path / "bad.tsv")
    assert dates.write_tsv([("5. März 1996", "1996-03-05")], tmp_path / "ok.tsv") == 1
    assert (tmp_path / "ok.tsv").read_bytes() == b"5. M\xc3\xa4rz 1996\t1996-03-05\n"  # UTF-8, no header
