"""engine="auto" takes the fast path for built-in cells and falls back to the plain loop for any other."""

from __future__ import annotations

import torch

import rnnkit
from rnnkit.engine import engine_for, native
from rnnkit.engine.torch_lstm import COMPILED_ALWAYS_HIDDEN, COMPILED_MAX_HIDDEN, COMPILED_MIN_BATCH


class CountingCell(rnnkit.GRUCell):
    """A user-written cell (a subclass may change the step, so it is not 'built in')."""

    calls = 0

    def forward(self, x_t, state):
        CountingCell.calls += 1
        return super().forward(x_t, state)


def test_built_in_cells_take_the_fast_path():
    small_lstm = "fused" if native.training_loops() is not None else "torch"   # the compiled loops, if built
    cases = [(rnnkit.LSTM(3, 4), None, small_lstm), (rnnkit.LSTM(3, 4, dtype=torch.float64), None, "torch"),
             (rnnkit.LSTM(3, COMPILED_MAX_HIDDEN + 1), None, "torch"), (rnnkit.LSTM(3, 4), torch.tensor([2]), "fused"),
             (rnnkit.LSTM(3, 4, peephole=True), None, "fused"), (rnnkit.GRU(3, 4), None, "fused"),
             (rnnkit.GRU(3, 4, reset_after=True), None, "fused"), (rnnkit.SimpleGRU(3, 4), None, "fused"),
             (rnnkit.RNN(3, 4, nonlinearity="relu"), None, "fused")]
    for layer, lengths, expected in cases:
        assert engine_for(layer.cells[0], "auto", lengths) == expected
        assert engine_for(layer.cells[0], "reference", lengths) == "reference"
    # Above COMPILED_ALWAYS_HIDDEN a small batch goes to torch's kernel, a large one to the compiled loops.
    wide = rnnkit.LSTM(3, COMPILED_ALWAYS_HIDDEN + 1).cells[0]
    assert engine_for(wide, "auto", None, COMPILED_MIN_BATCH - 1) == "torch"
    assert engine_for(wide, "auto", None, COMPILED_MIN_BATCH) == small_lstm


def test_fast_path_never_calls_the_cell_and_builds_one_node():
    layer = rnnkit.GRU(3, 4, num_layers=2)
    calls = []
    for cell in layer.cells:
        cell.register_forward_hook(lambda *args: calls.append(1))
    y, _ = layer(torch.randn(6, 2, 3))
    assert calls == []
    assert type(y.grad_fn).__name__ == "RecurrenceBackward"


def test_user_written_cell_falls_back_to_the_reference_loop():
    layer = rnnkit.Recurrent(CountingCell, 3, 4, num_layers=2)
    assert engine_for(layer.cells[0], "auto") == "reference"
    CountingCell.calls = 0
    y, _ = layer(torch.randn(6, 2, 3))
    assert CountingCell.calls == 2 * 6
    assert type(y.grad_fn).__name__ != "RecurrenceBackward"


def test_plain_lstm_runs_on_torch_kernel_and_equals_reference():
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)   # float64: never compiled
    calls = []
    for cell in layer.cells:
        cell.register_forward_hook(lambda *args: calls.append(1))
    x = torch.randn(6, 2, 3, requires_grad=True, dtype=torch.float64)
    y, (a, c) = layer(x)
    assert calls == []
    assert "Recurrence" not in str(a.grad_fn.next_functions)
    layer.engine = "reference"
    y2, (a2, c2) = layer(x)
    for u, v in [(y, y2), (a, a2), (c, c2)]:
        torch.testing.assert_close(u, v, atol=1e-5, rtol=0)
