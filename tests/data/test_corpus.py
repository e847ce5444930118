"""Tests for rnnkit.data.corpus."""

import os
import sys
import sysconfig

from rnnkit.data.corpus import default_corpus, default_corpus_description, default_corpus_name


def test_default_corpus_is_the_stdlib_source_in_file_name_order():
    text = default_corpus()
    assert len(text) > 1_000_000 and "def " in text and "import " in text
    stdlib = sysconfig.get_paths()["stdlib"]
    names = sorted(n for n in os.listdir(stdlib)
                   if n.endswith(".py") and os.path.getsize(os.path.join(stdlib, n)) > 0)
    with open(os.path.join(stdlib, names[0]), encoding="utf-8", errors="replace") as f:
        first = f.read()
    with open(os.path.join(stdlib, names[-1]), encoding="utf-8", errors="replace") as f:
        last = f.read()
    assert text.startswith(first) and text.endswith(last)
    assert "\r" not in text
    assert default_corpus() is text  # read once per process


def test_default_corpus_name_and_description_say_what_it_is():
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert default_corpus_name() == f"python-{version}-stdlib"
    description = default_corpus_description()
    assert description.startswith(default_corpus_name()) and sysconfig.get_paths()["stdlib"] in description
