"""One file per cell family; each cell's ``forward`` is its step equation."""

from rnnkit.cells.base import CellBase
from rnnkit.cells.gru import GRUCell, SimpleGRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.registry import CELLS, cell_factory
from rnnkit.cells.rnn import RNNCell

__all__ = ["CELLS", "CellBase", "GRUCell", "LSTMCell", "RNNCell", "SimpleGRUCell", "cell_factory"]
