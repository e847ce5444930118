"""File formats of the example-based tasks (DESIGN.md §6.1): files → :class:`ExampleSet` of :class:`Example`.

One module per format family: :mod:`.delimited` (csv, tsv), :mod:`.jsonl`, :mod:`.sst`, :mod:`.fasta`,
:mod:`.npz`, :mod:`.ts`; :func:`read_examples` (in :mod:`.read`) chooses among them.

Example::

    data = read_examples("train.tsv", text_column="sentence", label_column="label")
    data = read_examples(["a.fa", "b.fa"], labels_file="labels.tsv")
"""

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import ExampleSet
from rnnkit.data.formats.read import FORMATS, guess_format, read_examples

__all__ = ["FORMATS", "Example", "ExampleSet", "guess_format", "read_examples"]
