"""Human-readable dates paired with their ISO 8601 form: the classic exercise for attention in translation.

A sequence-to-sequence model reads a date as people write it and writes it as ``YYYY-MM-DD``::

    "Tuesday, March 5, 1996"   -> "1996-03-05"
    "5 MARS 1996"              -> "1996-03-05"
    "05.03.96"                 -> "1996-03-05"
    "1996-03-05"               -> "1996-03-05"

The source side is easy to learn yet needs attention to be solved well: the output digits are copied from, or
looked up at, positions that move from one format to the next (the year comes first, last, in two digits or
four; the month is a number or a word in one of eight languages). The texts are written by Babel
(``babel.dates.format_date``) from Unicode CLDR data, in these locales (:data:`LOCALES`)::

    en_US en_GB fr_FR de_DE es_ES it_IT pt_PT nl_NL

each with its named formats ``short``, ``medium``, ``long`` and ``full`` and with the explicit CLDR patterns
of :data:`PATTERNS` (``d MMM y``, ``EEEE d MMMM y``, ``MMMM d, y``, ``dd.MM.y``, ``y-MM-dd``, ``d/M/yy``, ...).
Each text is then kept as written, lower-cased or upper-cased, at random.

**No ambiguity.** Every text determines exactly one date, by design. A pattern is kept only if it obeys
these rules (:func:`pattern_is_unambiguous`; the named formats of a locale that break them are dropped):

1. It has exactly one day field (``d``/``dd``), one month field (``M``/``MM`` as a number, ``MMM``/``MMMM``
   as an abbreviated or wide name, never the narrow one) and one year field (``y``: all four digits, or
   ``yy``: the last two); optionally one weekday (``E``...), and then only as the first field. Numeric
   fields are separated by non-digit characters, and the literal text holds no digits.
2. An all-numeric date (numeric month) is day-month-year (``dd/MM/y``, ``d.M.yy``) or, with all four year
   digits first, year-month-day (``y-MM-dd``). A text's first number tells which: four digits, or one or two.
   So ``03/05/1996`` always means 3 May 1996 and ``M/d/yy``, the ``short`` format of en_US, is never used.
3. A two-digit year is the last number of the text, so it is never read as a day or a month.
4. Two-digit years are used only when the date range spans fewer than 100 calendar years
   (``end.year - start.year < 100``); in the default range 1950-2049, ``50``-``99`` mean 19xx and
   ``00``-``49`` mean 20xx, one year each.

Month and weekday names hold no digits, so a text with three numbers has a numeric month and a text with
two has a month name; the widths and the rules above then tell the day and the year apart. No month name
(abbreviated or wide, any case) means two different months across the locales: checked when the module is
imported. :func:`check_unambiguous` checks a list of pairs (a text never maps to two ISO dates), and
:func:`check_all_renderings` checks every format of every locale on given days, case-folded; on the whole
default range (``--check-all``, about a minute) it finds no collision.

**Held-out dates.** :func:`make_splits` draws the validation and test dates from dates never used in
training, so a model is measured on dates it has never seen in any format; every split is written in all
the formats and locales alike.

    python examples/dates_data.py --out dates [--train 20000 --valid 1000 --test 2000 --seed 0]

writes ``dates/train.tsv``, ``dates/valid.tsv`` and ``dates/test.tsv``: one ``text<TAB>iso`` line per
pair, UTF-8, no header. The same arguments always give the same files.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from babel import Locale
from babel.dates import format_date, get_date_format, get_month_names, tokenize_pattern

START = date(1950, 1, 1)
END = date(2049, 12, 31)

LOCALES: tuple[str, ...] = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_PT", "nl_NL")
NAMED_FORMATS: tuple[str, ...] = ("short", "medium", "long", "full")
PATTERNS: tuple[str, ...] = (
    # month as a name, day first
    "d MMM y", "d MMMM y", "dd MMM y", "dd MMMM y", "d MMM, y", "d MMMM, y", "dd, MMM y", "d MMM yy",
    # month as a name, month first, or year first
    "MMM d, y", "MMMM d, y", "MMM dd, y", "MMMM d y", "MMM d, yy", "y MMMM d", "y MMM dd",
    # with the weekday, always first
    "EEE, d MMM y", "EEEE d MMMM y", "EEEE, d MMMM y", "EEEE, MMMM d, y", "EEE, MMM d, y", "EEE d MMM yy",
    # all numeric: day-month-year, or a four-digit year first
    "dd.MM.y", "d.M.y", "dd/MM/y", "d/M/yy", "dd/MM/yy", "dd-MM-y", "d MM yy", "dd.MM.yy", "y-MM-dd", "y/MM/dd",
)
CASES: tuple[str, ...] = ("as written", "lower", "upper")


class AmbiguityError(ValueError):
    """One text stands for two different dates."""


class Style(NamedTuple):
    """One way of writing a date: a locale and a format (a named Babel format or a CLDR pattern)."""

    locale: str
    format: str  # "short", "medium", "long", "full" or an explicit pattern
    pattern: str  # the CLDR pattern it stands for in this locale


class Example(NamedTuple):
    """A generated pair and how its text was written."""

    text: str
    iso: str
    locale: str
    format: str
    case: str


def _fields(pattern: str) -> list[tuple[str, int]]:
    """The fields of a CLDR date pattern, in order, as (letter, width); a run of literal text is ("", 0)."""
    fields = []
    for kind, value in tokenize_pattern(pattern):
        if kind == "field":
            fields.append(value)
        elif not fields or fields[-1] != ("", 0):  # literal chunks: adjacent ones count as one
            fields.append(("", 0))
    return fields


def _is_numeric(field: tuple[str, int]) -> bool:
    """Whether a field is written in digits: the day, the year, a month as a number."""
    letter, width = field
    return letter in ("d", "y") or (letter == "M" and width <= 2)


def _is_textual(field: tuple[str, int]) -> bool:
    """Whether a field is written in words of the locale: a weekday, a month name."""
    letter, width = field
    return letter == "E" or (letter == "M" and width > 2)


def pattern_is_unambiguous(pattern: str, two_digit_years: bool = True) -> bool:
    """Whether ``pattern`` obeys the rules of the module docstring (with ``yy`` allowed or not)."""
    fields = _fields(pattern)
    letters = [letter for letter, _ in fields if letter]
    if sorted(letters) not in (["M", "d", "y"], ["E", "M", "d", "y"]) or ("E" in letters and letters[0] != "E"):
        return False
    width = dict(field for field in fields if field[0])
    if width["d"] > 2 or width["M"] > 4 or width.get("E", 1) > 4:  # no narrow names ("M" for March and May)
        return False
    short_year = width["y"] == 2
    if short_year and not two_digit_years:
        return False
    numeric = [field for field in fields if _is_numeric(field)]
    for before, after in zip(fields, fields[1:]):  # numbers always have something that is not a digit between
        if _is_numeric(before) and _is_numeric(after):
            return False
    if _literal_digits(pattern):
        return False
    order = "".join(letter for letter, _ in numeric)
    if short_year and order[-1] != "y":
        return False
    if len(order) == 3:
        return order == "dMy" or (order == "yMd" and not short_year)
    return True


def _literal_digits(pattern: str) -> bool:
    """Whether the literal text of ``pattern`` holds a digit (it would add a number to every text)."""
    return any(kind == "chars" and any(c.isdigit() for c in value) for kind, value in tokenize_pattern(pattern))


@cache
def styles(two_digit_years: bool = True) -> tuple[Style, ...]:
    """Every (locale, format) kept by the rules: the named formats of each locale, then :data:`PATTERNS`."""
    kept = []
    for locale in LOCALES:
        formats = [(name, get_date_format(name, locale).pattern) for name in NAMED_FORMATS]
        formats += [(pattern, pattern) for pattern in PATTERNS]
        kept += [Style(locale, name, pattern) for name, pattern in formats
                 if pattern_is_unambiguous(pattern, two_digit_years)]
    return tuple(kept)


def style_for(locale: str, format: str, two_digit_years: bool = True) -> Style:
    """The style of ``locale`` and ``format`` (a named format or a pattern); ValueError if the rules forbid it."""
    pattern = get_date_format(format, locale).pattern if format in NAMED_FORMATS else format
    if not pattern_is_unambiguous(pattern, two_digit_years):
        raise ValueError(f"{format!r} ({pattern!r}) of {locale} could be read as another date; it is not used")
    return Style(locale, format, pattern)


def two_digit_years_allowed(start: date, end: date) -> bool:
    """Whether ``yy`` names one year only within [start, end]: the range spans fewer than 100 calendar years."""
    return end.year - start.year < 100


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def render(day: date, style: Style, case: str = "as written") -> str:
    """``day`` written in ``style``, then kept as written, lower-cased or upper-cased (see :data:`CASES`)."""
    text = format_date(day, style.pattern, locale=_locale(style.locale))
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    if case != "as written":
        raise ValueError(f"unknown case {case!r}; expected one of {CASES}")
    return text


def _check_range(start: date, end: date) -> None:
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    if start.year < 1000:
        raise ValueError(f"years before 1000 are not written with four digits: start {start}")


def _examples(days: Iterable[date], rng: random.Random, two_digit_years: bool) -> list[Example]:
    """One example per day, each in a locale, format and case drawn from ``rng``."""
    by_locale: dict[str, list[Style]] = {}
    for style in styles(two_digit_years):
        by_locale.setdefault(style.locale, []).append(style)
    examples = []
    for day in days:
        style = rng.choice(by_locale[rng.choice(LOCALES)])
        case = rng.choice(CASES)
        examples.append(Example(render(day, style, case), day.isoformat(), style.locale, style.format, case))
    return examples


def make_examples(n: int, seed: int, start: date = START, end: date = END) -> list[Example]:
    """``n`` examples with dates drawn uniformly (with replacement) from [start, end], reproducible by seed."""
    _check_range(start, end)
    rng = random.Random(seed)
    first, last = start.toordinal(), end.toordinal()
    days = [date.fromordinal(rng.randint(first, last)) for _ in range(n)]
    return _examples(days, rng, two_digit_years_allowed(start, end))


def make_pairs(n: int, seed: int, start: date = START, end: date = END) -> list[tuple[str, str]]:
    """``n`` (text, "YYYY-MM-DD") pairs, dates uniform in [start, end]; the same arguments give the same list."""
    return [(example.text, example.iso) for example in make_examples(n, seed, start, end)]


def _draw(pool: Sequence[date], n: int, rng: random.Random) -> list[date]:
    """``n`` days from ``pool``: without repetition while the pool lasts, then through it again, reshuffled."""
    days: list[date] = []
    while len(days) < n:
        days += rng.sample(pool, min(n - len(days), len(pool)))
    return days


def make_split_examples(n_train: int = 20000, n_valid: int = 1000, n_test: int = 2000, seed: int = 0,
                        start: date = START, end: date = END) -> dict[str, list[Example]]:
    """Like :func:`make_splits`, with how each text was written."""
    _check_range(start, end)
    if min(n_train, n_valid, n_test) < 0:
        raise ValueError("split sizes must not be negative")
    all_days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    if n_valid + n_test + (n_train > 0) > len(all_days):
        raise ValueError(f"{n_valid} + {n_test} held-out dates leave none of the {len(all_days)} for training")
    random.Random(f"dates:{seed}:days").shuffle(all_days)
    held_out = {"test": all_days[:n_test], "valid": all_days[n_test:n_test + n_valid]}
    train_pool = all_days[n_test + n_valid:]
    two_digit_years = two_digit_years_allowed(start, end)
    splits = {}
    for name, size in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        rng = random.Random(f"dates:{seed}:{name}")
        days = _draw(train_pool, size, rng) if name == "train" else held_out[name]
        splits[name] = _examples(days, rng, two_digit_years)
    return splits


def make_splits(n_train: int = 20000, n_valid: int = 1000, n_test: int = 2000, seed: int = 0,
                start: date = START, end: date = END) -> dict[str, list[tuple[str, str]]]:
    """{"train", "valid", "test"}: lists of (text, iso) pairs; validation and test dates are held out.

    The days of [start, end] are shuffled by the seed; the first ``n_test`` are the test dates and the next
    ``n_valid`` the validation dates, one pair each. Training pairs take their dates from the remaining days,
    each at most once while they last. Every split is written in all the locales and formats alike, each
    with its own random stream, so the held-out sets do not depend on ``n_train``.
    """
    return {name: [(example.text, example.iso) for example in examples]
            for name, examples in make_split_examples(n_train, n_valid, n_test, seed, start, end).items()}


def check_unambiguous(pairs: Iterable[tuple[str, str]], fold_case: bool = False) -> None:
    """Raise :class:`AmbiguityError` if one text is paired with two different ISO dates.

    With ``fold_case`` the texts are compared case-folded, which also covers every lower-/upper-case variant.
    """
    seen: dict[str, str] = {}
    for text, iso in pairs:
        key = text.casefold() if fold_case else text
        if seen.setdefault(key, iso) != iso:
            raise AmbiguityError(f"{text!r} stands for both {seen[key]} and {iso}")


def check_all_renderings(days: Iterable[date], two_digit_years: bool = True) -> int:
    """Write every day in every style (:func:`styles`), case-folded; raise if two days share a text.

    Returns the number of distinct texts. Numeric patterns read alike in every locale and are written once.
    """
    seen: dict[str, date] = {}
    unique_styles: dict[tuple[str, str], Style] = {}
    for style in styles(two_digit_years):
        textual = any(_is_textual(field) for field in _fields(style.pattern))
        unique_styles.setdefault((style.locale if textual else "", style.pattern), style)
    days = list(days)
    for style in unique_styles.values():
        for day in days:
            text = render(day, style).casefold()
            other = seen.setdefault(text, day)
            if other != day:
                raise AmbiguityError(f"{text!r} stands for both {other} and {day} ({style})")
    return len(seen)


def _check_month_names() -> None:
    """No month name, abbreviated or wide, case-folded, means two different months across :data:`LOCALES`."""
    months: dict[str, int] = {}
    for locale in LOCALES:
        for width in ("abbreviated", "wide"):
            for month, name in get_month_names(width, "format", locale).items():
                if any(c.isdigit() for c in name) or months.setdefault(name.casefold(), month) != month:
                    raise AmbiguityError(f"month name {name!r} of {locale} is ambiguous")


_check_month_names()


def write_tsv(pairs: Iterable[tuple[str, str]], path: str | Path) -> int:
    """Write ``text<TAB>iso`` lines, UTF-8, no header; return the number of lines.

    Raises ValueError if a field is empty or holds a tab or a line break.
    """
    lines = []
    for text, iso in pairs:
        for field in (text, iso):
            if "\t" in field or field.splitlines() != [field]:
                raise ValueError(f"{field!r} is empty or holds a tab or a line break")
        lines.append(f"{text}\t{iso}\n")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(lines)
    return len(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (human-readable date, ISO 8601) pairs: train, valid, "
                                                 "test TSV files with held-out validation and test dates.")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.tsv, valid.tsv, test.tsv")
    parser.add_argument("--train", type=int, default=20000, help="training pairs (default 20000)")
    parser.add_argument("--valid", type=int, default=1000, help="validation pairs, one held-out date each")
    parser.add_argument("--test", type=int, default=2000, help="test pairs, one held-out date each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-all", action="store_true",
                        help="first write every date of 1950-2049 in every format and check that no two share "
                             "a text (about a minute)")
    args = parser.parse_args(argv)
    try:
        if args.check_all:
            days = [START + timedelta(days=i) for i in range((END - START).days + 1)]
            count = check_all_renderings(days)
            print(f"{len(days)} dates, {len(styles())} styles: {count} distinct case-folded texts, no collision")
        splits = make_splits(args.train, args.valid, args.test, args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    check_unambiguous((pair for pairs in splits.values() for pair in pairs), fold_case=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits.items():
        write_tsv(pairs, args.out / f"{name}.tsv")
    print(", ".join(f"{name} {len(pairs)}" for name, pairs in splits.items()) + f" pairs written to {args.out}")
    for text, iso in splits["train"][:10]:
        print(f"  {text!r:45} -> {iso}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
