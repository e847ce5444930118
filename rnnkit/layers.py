"""Recurrent layers: the time loop over a cell, stacked (deep) and bidirectional, with variable lengths."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell, SimpleGRUCell
from rnnkit.engine import ENGINES, Stepper, run_direction
from rnnkit.engine.torch_lstm import lends_stack_to_torch, run_torch_lstm_stack


class Recurrent(nn.Module):
    """A recurrent layer over any cell: deep, bidirectional, with variable-length batches.

    Layer ``l`` reads ``a^[l-1]<t>`` (the input ``x<t>`` for ``l = 1``); in a bidirectional layer the
    forward direction runs t = 1 … T_x, the backward one t = T_x … 1, and the layer's output is
    ``[a→<t>, a←<t>]``. Dropout (when training) is applied to each layer's output except the last.

    Args:
        cell_factory: ``cell_factory(input_size, hidden_size, **cell_options)`` returns a cell that follows
            the cell contract of :mod:`rnnkit.cells.base` (a built-in cell class or your own).
        input_size (X), hidden_size (H), num_layers (L), bidirectional, dropout, batch_first: as in ``torch.nn``.
        engine: ``"auto"`` uses the fast engine where it supports the cell; ``"reference"`` the plain loop.

    Shapes (D = 2 if bidirectional else 1):
        x: (T, B, X), or (B, T, X) with ``batch_first``; lengths: (B,) integers in 1 … T;
        state: a tuple with one (L·D, B, H) tensor per state name (``(a,)`` or ``(a, c)``), ordered as
        in ``torch.nn`` (layer 0 forward, layer 0 backward, layer 1 forward, …);
        outputs: (T, B, D·H) (or (B, T, D·H)), zero past each sequence's end.

    Example::

        lstm = rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True)
        y, (a, c) = lstm(torch.randn(10, 4, 8), lengths=torch.tensor([10, 7, 3, 1]))
        # y: (10, 4, 32); a, c: (4, 4, 16)
    """

    def __init__(self, cell_factory, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, batch_first: bool = False,
                 engine: str = "auto", **cell_options):
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.engine = engine
        self.cell_options = dict(cell_options)
        D = self.num_directions
        self.cells = nn.ModuleList(
            cell_factory(self.input_size if layer == 0 else D * self.hidden_size, self.hidden_size,
                         **cell_options)
            for layer in range(self.num_layers) for _ in range(D))
        self.state_names = tuple(self.cells[0].state_names)

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple[torch.Tensor, ...]:
        """Zeros: one (L·D, B, H) tensor per state name."""
        per_cell = [cell.init_state(batch_size, device=device, dtype=dtype) for cell in self.cells]
        return tuple(torch.stack(parts) for parts in zip(*per_cell))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | torch.Tensor | None = None,
                lengths: torch.Tensor | None = None):
        if self.batch_first:
            x = x.transpose(0, 1)
        self._check_input(x)
        T, B, _ = x.shape
        state = self._check_state(state, B)
        lengths = self._check_lengths(lengths, T, B, x.device)
        if lends_stack_to_torch(self, lengths, B):       # a plain LSTM stack: torch's kernel, one call
            outputs, final = run_torch_lstm_stack(self, x, state)
            return (outputs.transpose(0, 1) if self.batch_first else outputs), final
        D = self.num_directions
        finals: list[tuple[torch.Tensor, ...]] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                cell = self.cells[k]
                s0 = (cell.init_state(B, device=x.device, dtype=x.dtype) if state is None
                      else tuple(s[k] for s in state))
                out, s_T = run_direction(cell, layer_input, s0, lengths, reverse=direction == 1,
                                         engine=self.engine)
                outputs.append(out)
                finals.append(s_T)
            layer_input = outputs[0] if D == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        outputs = layer_input.transpose(0, 1) if self.batch_first else layer_input
        return outputs, tuple(torch.stack(parts) for parts in zip(*finals))

    def outputs(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The outputs of :meth:`forward` with ``lengths`` (from the zero state), on the engine's unpadded paths.

        Padding after a sequence's end cannot reach its forward direction's outputs at ``t < lengths[b]``, so
        that direction runs over the whole padded batch unmasked; the backward direction runs, unmasked too,
        over each sequence reversed within its own length (``x<lengths[b]> … x<1>``, then padding) and its
        outputs are put back in order. The result equals ``forward(x, lengths=lengths)[0]`` (tested) without
        the masked loop; the final states are not computed.
        """
        if self.batch_first:
            x = x.transpose(0, 1)
        self._check_input(x)
        T, B, _ = x.shape
        lengths = self._check_lengths(lengths, T, B, x.device)
        t = torch.arange(T, device=x.device).unsqueeze(1)
        valid = (t < lengths.unsqueeze(0)).unsqueeze(2)                          # (T, B, 1)
        index = (lengths.unsqueeze(0) - 1 - t).clamp(min=0).unsqueeze(2)          # t ↦ lengths[b] − 1 − t

        def flip(y: torch.Tensor) -> torch.Tensor:                                # reverse within each length
            return y.gather(0, index.expand_as(y)) * valid

        D = self.num_directions
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                cell = self.cells[layer * D + direction]
                s0 = cell.init_state(B, device=x.device, dtype=x.dtype)
                seq = layer_input if direction == 0 else flip(layer_input)
                out, _ = run_direction(cell, seq, s0, None, reverse=False, engine=self.engine)
                outputs.append(out * valid if direction == 0 else flip(out))
            layer_input = outputs[0] if D == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        return layer_input.transpose(0, 1) if self.batch_first else layer_input

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        """One time step through every layer, for generation: ``x_t`` (B, X) → (``a<t>`` of the top layer
        (B, H), the new state, each (L, B, H)). Only for unidirectional layers (the backward direction
        needs the whole sequence). Dropout is not applied: stepping is for inference. To step many times,
        :class:`rnnkit.engine.Stepper` keeps the state and the fused weights between steps.
        """
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional layer: a bidirectional one reads the whole sequence")
        stepper = Stepper(self, state, x_t.shape[0], device=x_t.device, dtype=x_t.dtype,
                          inputs_require_grad=x_t.requires_grad)
        stepper.step(x_t)
        state = stepper.state()
        return state[0][-1], state

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[2] != self.input_size:
            layout = "(B, T, X)" if self.batch_first else "(T, B, X)"
            raise ValueError(f"expected input of shape {layout} with X = {self.input_size}, "
                             f"got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("the input has no time steps (T = 0)")

    def _check_state(self, state, B: int):
        if state is None:
            return None
        if isinstance(state, torch.Tensor):
            state = (state,)
        state = tuple(state)
        expected = (self.num_layers * self.num_directions, B, self.hidden_size)
        if len(state) != len(self.state_names) or any(tuple(s.shape) != expected for s in state):
            got = [tuple(s.shape) for s in state]
            raise ValueError(f"expected a state of {len(self.state_names)} tensor(s) "
                             f"{self.state_names} each of shape {expected} (L·D, B, H), got {got}")
        return state

    def _check_lengths(self, lengths, T: int, B: int, device):
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths, device=device)
        if lengths.shape != (B,) or lengths.is_floating_point():
            raise ValueError(f"lengths must be a (B,) = ({B},) integer tensor, got shape {tuple(lengths.shape)}"
                             f" and dtype {lengths.dtype}")
        if B and (int(lengths.min()) < 1 or int(lengths.max()) > T):
            raise ValueError(f"lengths must be in 1 … T = {T}, got min {int(lengths.min())} "
                             f"and max {int(lengths.max())}")
        return lengths.to(torch.long)

    def to_torch(self) -> nn.RNNBase:
        """The equal ``torch.nn.RNN / GRU / LSTM`` (see :func:`rnnkit.interop.to_torch`)."""
        from rnnkit.interop import to_torch

        return to_torch(self)

    def extra_repr(self) -> str:
        opts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            opts.append(f"num_layers={self.num_layers}")
        for name, default in (("bidirectional", False), ("dropout", 0.0), ("batch_first", False),
                              ("engine", "auto")):
            if getattr(self, name) != default:
                opts.append(f"{name}={getattr(self, name)!r}")
        return ", ".join(opts)


class _CellLayer(Recurrent):
    """A :class:`Recurrent` layer over one built-in cell class (``cell_class``)."""

    cell_class: type = RNNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, batch_first: bool = False, engine: str = "auto", **cell_options):
        super().__init__(self.cell_class, input_size, hidden_size, num_layers=num_layers,
                         bidirectional=bidirectional, dropout=dropout, batch_first=batch_first,
                         engine=engine, **cell_options)


class RNN(_CellLayer):
    """Vanilla RNN layer (:class:`rnnkit.RNNCell`), ``nonlinearity="tanh"|"relu"``; see :class:`Recurrent`."""

    cell_class = RNNCell


class SimpleGRU(_CellLayer):
    """Simplified-GRU layer (:class:`rnnkit.SimpleGRUCell`); see :class:`Recurrent`."""

    cell_class = SimpleGRUCell


class GRU(_CellLayer):
    """GRU layer (:class:`rnnkit.GRUCell`), ``reset_after=False|True``; see :class:`Recurrent`."""

    cell_class = GRUCell


class LSTM(_CellLayer):
    """LSTM layer (:class:`rnnkit.LSTMCell`), ``peephole``, ``forget_bias``; see :class:`Recurrent`.

    Example::

        lstm = rnnkit.LSTM(8, 16, num_layers=2)
        y, (a, c) = lstm(torch.randn(10, 4, 8))    # y: (10, 4, 16); a, c: (2, 4, 16)
    """

    cell_class = LSTMCell
