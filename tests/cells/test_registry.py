"""rnnkit/cells/registry.py: cells by the names of the --cell flag."""

import pytest

import rnnkit
from rnnkit.cells import cell_factory


@pytest.mark.parametrize("name, cls, peephole", [
    ("rnn", rnnkit.RNNCell, None), ("simple-gru", rnnkit.SimpleGRUCell, None), ("gru", rnnkit.GRUCell, None),
    ("lstm", rnnkit.LSTMCell, False), ("peephole-lstm", rnnkit.LSTMCell, True),
])
def test_names(name, cls, peephole):
    cell = cell_factory(name)(2, 3)
    assert type(cell) is cls
    if peephole is not None:
        assert cell.peephole is peephole


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="'tree'.*rnn.*simple-gru.*gru.*lstm.*peephole-lstm"):
        cell_factory("tree")
