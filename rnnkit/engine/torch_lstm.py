"""The plain LSTM on torch's own fused kernel (oneDNN on the CPU, cuDNN on CUDA).

For an ``LSTMCell`` without peepholes torch computes exactly the same equations, so the engine lends it
rnnkit's weights, re-laid into torch's layout (the mapping of :mod:`rnnkit.interop`: torch gates
i, f, g, o are rnnkit's u, f, c, o; ``W_ih = W[:, H:]``, ``W_hh = W[:, :H]``; one bias, torch's second one
zero). The re-layout is ``torch.cat`` of parameter slices, so it is differentiable and gradients reach
``W_u, b_u, …``. Used without ``lengths`` only: with padding the hand-written engine is exact and faster
than torch's packed path. A whole stack of such cells (every layer and direction, no dropout in play) runs
in one call (:func:`run_torch_lstm_stack`), as ``torch.nn.LSTM`` runs it; with dropout between layers each
layer runs on its own (:func:`run_torch_lstm`) so that the masks are rnnkit's.
"""

from __future__ import annotations

import warnings

import torch

from rnnkit.cells import LSTMCell
from rnnkit.engine import native

# torch.nn.LSTM's gate order, written with rnnkit's gate names.
TORCH_LSTM_GATES = ("u", "f", "c", "o")


# Where a float32 CPU LSTM trains faster on rnnkit's compiled loops (train.c) than on oneDNN's kernel, from
# training steps on a 2-core AVX2 CPU (compiled speed over oneDNN's, median of paired runs): hidden 128 at
# B = 32 1.1–1.3×, at B = 16 1.01×; hidden 256 at B = 32 1.02×, at B = 64 1.13×, at B = 16 0.86–0.92×;
# hidden 320 at B = 16 0.85–1.07×; hidden 512 at B = 64 0.84–0.97×, at B = 16 0.66×. Small batches favour
# oneDNN (its per-step GEMM handles a narrow right-hand side better than a plain sgemm call), so above
# COMPILED_ALWAYS_HIDDEN the batch counts.
COMPILED_ALWAYS_HIDDEN = 128
COMPILED_MAX_HIDDEN = 256
COMPILED_MIN_BATCH = 32


def lends_to_torch(cell, lengths: torch.Tensor | None, batch_size: int | None = None) -> bool:
    """Whether :func:`run_torch_lstm` computes ``cell`` exactly (a plain built-in LSTM, no padding) and is
    the faster engine for it (not a float32 CPU cell the compiled loops run faster, :func:`compiled_is_faster`)."""
    return (type(cell) is LSTMCell and not cell.peephole and lengths is None
            and not compiled_is_faster(cell, batch_size))


def compiled_is_faster(cell, batch_size: int | None = None) -> bool:
    """A float32 CPU LSTM with hidden size ≤ :data:`COMPILED_ALWAYS_HIDDEN`, or ≤ :data:`COMPILED_MAX_HIDDEN`
    at a batch of at least :data:`COMPILED_MIN_BATCH` (or an unknown one), with the compiled loops built."""
    W, H = cell.W_u, cell.hidden_size
    wide_enough = H <= COMPILED_ALWAYS_HIDDEN or (
        H <= COMPILED_MAX_HIDDEN and (batch_size is None or batch_size >= COMPILED_MIN_BATCH))
    return (wide_enough and W.dtype == torch.float32 and W.device.type == "cpu"
            and native.training_loops() is not None)


def torch_lstm_weights(cell) -> list[torch.Tensor]:
    """``[W_ih, W_hh(, b_ih, b_hh)]`` in torch's layout, differentiable in rnnkit's parameters."""
    W = [getattr(cell, f"W_{g}") for g in TORCH_LSTM_GATES]
    W_ih, W_hh = _TorchLayout.apply(cell.hidden_size, *W)
    weights = [W_ih, W_hh]
    if cell.bias:
        b = torch.cat([getattr(cell, f"b_{g}") for g in TORCH_LSTM_GATES])
        weights += [b, torch.zeros_like(b, requires_grad=False)]
    return weights


class _TorchLayout(torch.autograd.Function):
    """Four gates' ``W_g = [W_hg | W_xg]`` (H, H + X) → torch's ``W_ih`` (4H, X) and ``W_hh`` (4H, H).

    Written out because autograd's own backward of the column slices would give each ``W_g`` two
    zero-filled full-size gradients and add them; here each ``dW_g`` is one ``cat`` of its two row blocks
    (for a 2×128 LSTM the re-layout's share of a training step drops from about 3 % to about 1 %)."""

    @staticmethod
    def forward(ctx, H, *W):
        ctx.H = H
        return torch.cat([w[:, H:] for w in W]), torch.cat([w[:, :H] for w in W])

    @staticmethod
    def backward(ctx, dW_ih, dW_hh):
        H = ctx.H
        return (None, *(torch.cat([dW_hh[k * H:(k + 1) * H], dW_ih[k * H:(k + 1) * H]], 1) for k in range(4)))


def run_torch_lstm(cell, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], lengths, reverse: bool):
    """One direction of one plain-LSTM layer on ``torch._VF.lstm``; contract of :func:`run_reference`."""
    if reverse:
        x = x.flip(0)
    a0, c0 = state
    outputs, a_T, c_T = _vf_lstm(x, (a0.unsqueeze(0), c0.unsqueeze(0)), torch_lstm_weights(cell), cell.bias, 1,
                                 0.0, torch.is_grad_enabled(), False, False)
    if reverse:
        outputs = outputs.flip(0)
    return outputs, (a_T[0], c_T[0])


def lends_stack_to_torch(layer, lengths, batch_size: int | None = None) -> bool:
    """Whether :func:`run_torch_lstm_stack` computes the whole ``layer`` exactly (plain built-in LSTM cells,
    all with or all without bias, no padding, and no dropout between layers in play) and is the faster
    engine for every cell (:func:`lends_to_torch`)."""
    cells = list(layer.cells)
    return (layer.engine == "auto" and lengths is None and all(lends_to_torch(c, None, batch_size) for c in cells)
            and len({c.bias for c in cells}) == 1 and not (layer.dropout > 0 and layer.training))


def run_torch_lstm_stack(layer, x: torch.Tensor, state):
    """Every layer and direction of a plain-LSTM stack in one call of torch's kernel, as ``torch.nn.LSTM``
    makes it: x (T, B, X) → (outputs (T, B, D·H), (a, c) each (L·D, B, H))."""
    if state is None:
        zeros = x.new_zeros(layer.num_layers * layer.num_directions, x.shape[1], layer.hidden_size)
        state = (zeros, zeros)
    weights = [w for cell in layer.cells for w in torch_lstm_weights(cell)]
    outputs, a, c = _vf_lstm(x, tuple(state), weights, layer.cells[0].bias, layer.num_layers, 0.0,
                             torch.is_grad_enabled(), layer.bidirectional, False)
    return outputs, (a, c)


def _vf_lstm(x: torch.Tensor, *args):
    """``torch._VF.lstm``. cuDNN warns when the weights are not one flat buffer; here they are laid out afresh
    on every call by design (the parameters keep rnnkit's names and shapes), so the warning would only alarm."""
    if not x.is_cuda:
        return torch._VF.lstm(x, *args)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
        return torch._VF.lstm(x, *args)
