"""``sst``: ``<label> <text>`` per line, as in the SST-2 files of Kim (2014) (``stsa.binary.train``).

The label is everything before the first space or tab, the text the rest of the line (stripped). The first
field is always the label, so every line needs one. Blank lines are skipped. With ``multi_label`` the label
field holds names separated by ``|`` (``pos|funny a stirring film``).

Example::

    1 a stirring , funny and finally transporting re-imagining of beauty and the beast
    0 apparently reassembled from the cutting-room floor of any given daytime soap .
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import ExampleSet, LabelRules, check_text, read_file_text, text_set
from rnnkit.errors import RnnkitError

_FIRST_FIELD = re.compile(r"[ \t]+")


def read_sst(path: Path, rules: LabelRules, errors: str = "strict") -> ExampleSet:
    """Read one ``<label> <text>`` file (see module doc)."""
    examples = []
    for number, line in enumerate(read_file_text(path, errors).split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        where = f"{path}:{number}"
        parts = _FIRST_FIELD.split(line, maxsplit=1)
        if len(parts) == 1:
            raise RnnkitError(f"{where}: the line {parts[0][:40]!r} has a label but no text; write '<label> <text>'")
        label = rules.parse(parts[0], where, "start the line with its label")
        examples.append(Example(check_text(parts[1], where), label, where))
    return text_set(examples, path)
