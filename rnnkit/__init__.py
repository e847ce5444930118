"""rnnkit: recurrent sequence models from their equations, on PyTorch."""

from rnnkit.cells import GRUCell, LSTMCell, RNNCell, SimpleGRUCell
from rnnkit.errors import RnnkitError
from rnnkit.interop import from_torch
from rnnkit.layers import GRU, LSTM, RNN, Recurrent, SimpleGRU
from rnnkit.losses import sequence_cross_entropy, sequence_logistic_loss
from rnnkit.output import OutputLayer
from rnnkit.training.clipping import clip_gradients

__version__ = "0.1.0"

__all__ = [
    "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "OutputLayer", "RNNCell", "Recurrent", "RnnkitError",
    "SimpleGRU", "SimpleGRUCell", "clip_gradients", "from_torch", "sequence_cross_entropy",
    "sequence_logistic_loss",
]
