"""``jsonl``: one JSON object per line, the text and the label under named keys.

The keys are the column flags (default ``"text"`` and ``"label"``). The text must be a string; a label may be
a string, a number (``1`` → ``"1"``, ``1.5`` → ``"1.5"``) or a boolean (``"true"``/``"false"``); ``null`` or a
missing key is no label. With ``multi_label`` the label is a JSON list of such values (a ``|``-separated
string works too). Blank lines are skipped.

Example::

    {"text": "a stirring , funny film", "label": "pos"}
    {"text": "bug-eyed monsters", "label": ["neg", "scifi"]}
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import LABEL_SEPARATOR, ExampleSet, LabelRules, check_text, json_objects, text_set
from rnnkit.errors import RnnkitError

_SHOWN = 20  # keys listed in an error message


def _key(column: str | int | None, default: str, role: str) -> str:
    if column is None:
        return default
    if not isinstance(column, str):
        raise RnnkitError(f"{role} column {column!r}: jsonl files name their fields, so give the key's name "
                          "(column numbers are for csv and tsv)")
    return column


def _scalar(value, where: str, key: str) -> str:
    """A JSON scalar as label text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise RnnkitError(f"{where}: the label under {key!r} is a JSON {type(value).__name__}; give a string or a "
                      "number (or a list of them with multi-label)")


def _label_text(value, where: str, key: str, multi_label: bool) -> str | None:
    """The label as the text :meth:`LabelRules.parse` reads (several names joined by ``|``)."""
    if value is None:
        return None
    if multi_label and isinstance(value, list):
        names = [_scalar(v, where, key) for v in value if v is not None]
        for name in names:
            if LABEL_SEPARATOR in name:
                raise RnnkitError(f"{where}: the label {name!r} holds {LABEL_SEPARATOR!r}, which separates labels; "
                                  "rename it")
        return LABEL_SEPARATOR.join(names)
    return _scalar(value, where, key)


def _listing(obj: dict) -> str:
    keys = list(obj)
    shown = ", ".join(repr(k) for k in keys[:_SHOWN])
    return (shown + (f", … ({len(keys)} in all)" if len(keys) > _SHOWN else "")) or "no keys"


def read_jsonl(path: Path, text_column: str | int | None, label_column: str | int | None, rules: LabelRules,
               errors: str = "strict") -> ExampleSet:
    """Read one JSON-lines file (see module doc)."""
    text_key, label_key = _key(text_column, "text", "text"), _key(label_column, "label", "label")
    examples = []
    for where, obj in json_objects(path, errors, f'{{"{text_key}": "…", "{label_key}": "…"}}'):
        if text_key not in obj:
            raise RnnkitError(f"{where}: no key {text_key!r} for the text; the object has {_listing(obj)}; "
                              "name the text's key (--text-column)")
        text = obj[text_key]
        if not isinstance(text, str):
            raise RnnkitError(f"{where}: the text under {text_key!r} is a JSON {type(text).__name__}, not a string")
        if label_key not in obj and rules.require_labels:
            raise RnnkitError(f"{where}: no key {label_key!r} for the label; the object has {_listing(obj)}; "
                              "name the label's key (--label-column)")
        raw = _label_text(obj.get(label_key), where, label_key, rules.multi_label)
        label = rules.parse(raw, where, f"give a value under {label_key!r}")
        examples.append(Example(check_text(text, where), label, where))
    return text_set(examples, path)
