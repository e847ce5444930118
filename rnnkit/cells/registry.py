"""Cells by the names the command line uses (``--cell``)."""

from __future__ import annotations

from functools import partial

from rnnkit.cells.gru import GRUCell, SimpleGRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell

CELLS = {
    "rnn": RNNCell,
    "simple-gru": SimpleGRUCell,
    "gru": GRUCell,
    "lstm": LSTMCell,
    "peephole-lstm": partial(LSTMCell, peephole=True),
}


def cell_factory(name: str):
    """The cell class (or partial) for a ``--cell`` name; unknown names raise ``ValueError``."""
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}: choose one of {', '.join(CELLS)}") from None
