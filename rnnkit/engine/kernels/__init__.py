"""Hand-written forward and backward steps, one per built-in cell (see :mod:`rnnkit.engine.kernels.base`)."""

from rnnkit.engine.kernels.base import Kernel
from rnnkit.engine.kernels.gru import GRUKernel, GRUResetAfterKernel, SimpleGRUKernel
from rnnkit.engine.kernels.lstm import LSTMKernel, PeepholeLSTMKernel
from rnnkit.engine.kernels.rnn import RNNReLUKernel, RNNTanhKernel

__all__ = ["GRUKernel", "GRUResetAfterKernel", "Kernel", "LSTMKernel", "PeepholeLSTMKernel", "RNNReLUKernel",
           "RNNTanhKernel", "SimpleGRUKernel"]
