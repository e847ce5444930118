"""Exact conversion between rnnkit layers and ``torch.nn.RNN / GRU / LSTM``.

``torch.nn`` keeps separate input and recurrent weights per gate, stacked in its own gate order, and two
biases that only ever appear summed (except for the GRU candidate). rnnkit keeps one ``(H, H + X)``
matrix per gate, ``W = [W_?a | W_?x]``. The mapping, for each layer and direction:

====================  ===========================================================================
rnnkit                torch.nn
====================  ===========================================================================
RNN   ``W_a, b_a``    ``[W_hh | W_ih]``, ``b_ih + b_hh``
LSTM  ``u, f, c, o``  torch gates ``i, f, g, o``: ``W_g = [W_hh_g | W_ih_g]``, ``b_g = b_ih_g + b_hh_g``
GRU   ``r``           ``r``: ``W_r = [W_hr | W_ir]``, ``b_r = b_ir + b_hr``
GRU   ``u``           ``Γu = 1 − z``: ``W_u = −[W_hz | W_iz]``, ``b_u = −(b_iz + b_hz)`` (σ(−v) = 1 − σ(v))
GRU   ``c``           ``n``: ``W_c = [W_hn | W_in]``, ``b_c = b_in``, ``b_cc = b_hn`` (``reset_after=True``)
====================  ===========================================================================
"""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.layers import GRU, LSTM, RNN, Recurrent

# torch.nn's gate order in its stacked weights, written with rnnkit's gate names ("z" is 1 − Γu).
TORCH_GATES = {"RNN": ("a",), "LSTM": ("u", "f", "c", "o"), "GRU": ("r", "z", "c")}


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def from_torch(module: nn.RNNBase) -> Recurrent:
    """The rnnkit layer equal to ``module`` (``torch.nn.RNN``, ``GRU`` or ``LSTM``); weights are copied.

    A ``torch.nn.GRU`` becomes ``rnnkit.GRU(..., reset_after=True)``, the form torch computes.

    Example::

        layer = rnnkit.from_torch(torch.nn.LSTM(8, 16, num_layers=2))
    """
    if not isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        raise TypeError(f"from_torch expects torch.nn.RNN, GRU or LSTM, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 has no rnnkit equivalent; use proj_size=0")
    p = next(module.parameters())
    common = dict(num_layers=module.num_layers, bidirectional=module.bidirectional, dropout=module.dropout,
                  batch_first=module.batch_first, bias=module.bias, device=p.device, dtype=p.dtype)
    if isinstance(module, nn.LSTM):
        layer, kind = LSTM(module.input_size, module.hidden_size, **common), "LSTM"
    elif isinstance(module, nn.GRU):
        layer, kind = GRU(module.input_size, module.hidden_size, reset_after=True, **common), "GRU"
    else:
        layer = RNN(module.input_size, module.hidden_size, nonlinearity=module.nonlinearity, **common)
        kind = "RNN"
    D = layer.num_directions
    with torch.no_grad():
        for layer_index in range(module.num_layers):
            for direction in range(D):
                cell = layer.cells[layer_index * D + direction]
                sfx = _suffix(layer_index, direction)
                W_ih = getattr(module, "weight_ih" + sfx).chunk(len(TORCH_GATES[kind]))
                W_hh = getattr(module, "weight_hh" + sfx).chunk(len(TORCH_GATES[kind]))
                b_ih = getattr(module, "bias_ih" + sfx).chunk(len(TORCH_GATES[kind])) if module.bias else None
                b_hh = getattr(module, "bias_hh" + sfx).chunk(len(TORCH_GATES[kind])) if module.bias else None
                for i, g in enumerate(TORCH_GATES[kind]):
                    W = torch.cat([W_hh[i], W_ih[i]], dim=1)
                    if g == "z":
                        cell.W_u.copy_(-W)
                        if module.bias:
                            cell.b_u.copy_(-(b_ih[i] + b_hh[i]))
                        continue
                    getattr(cell, f"W_{g}").copy_(W)
                    if not module.bias:
                        continue
                    if kind == "GRU" and g == "c":
                        cell.b_c.copy_(b_ih[i])
                        cell.b_cc.copy_(b_hh[i])
                    else:
                        getattr(cell, f"b_{g}").copy_(b_ih[i] + b_hh[i])
    return layer


def to_torch(layer: Recurrent) -> nn.RNNBase:
    """The ``torch.nn`` module equal to ``layer``; only the forms torch computes can be converted.

    Convertible: ``rnnkit.RNN``, ``rnnkit.LSTM`` without peepholes, ``rnnkit.GRU(reset_after=True)``.
    """
    cell = layer.cells[0]
    kind = type(cell).__name__
    if kind == "LSTMCell" and not cell.peephole:
        torch_kind = "LSTM"
    elif kind == "GRUCell" and cell.reset_after:
        torch_kind = "GRU"
    elif kind == "RNNCell":
        torch_kind = "RNN"
    else:
        raise ValueError(
            f"torch.nn has no equivalent of {cell!r}: only RNN, LSTM without peepholes and "
            "GRU(reset_after=True) convert; the default GRU resets before the matmul, which torch does not")
    p = cell.W_c if torch_kind != "RNN" else cell.W_a
    kwargs = dict(num_layers=layer.num_layers, bidirectional=layer.bidirectional, dropout=layer.dropout,
                  batch_first=layer.batch_first, bias=cell.bias, device=p.device, dtype=p.dtype)
    if torch_kind == "RNN":
        kwargs["nonlinearity"] = cell.nonlinearity
    module = getattr(nn, torch_kind)(layer.input_size, layer.hidden_size, **kwargs)
    D = layer.num_directions
    with torch.no_grad():
        for layer_index in range(layer.num_layers):
            for direction in range(D):
                cell = layer.cells[layer_index * D + direction]
                sfx = _suffix(layer_index, direction)
                H = cell.hidden_size
                W, b_ih, b_hh = [], [], []
                for g in TORCH_GATES[torch_kind]:
                    sign = -1.0 if g == "z" else 1.0
                    W_g = sign * getattr(cell, "W_u" if g == "z" else f"W_{g}")
                    W.append(W_g)
                    if cell.bias:
                        b_g = sign * getattr(cell, "b_u" if g == "z" else f"b_{g}")
                        b_ih.append(b_g)
                        b_hh.append(cell.b_cc if torch_kind == "GRU" and g == "c" else torch.zeros_like(b_g))
                W = torch.cat(W)
                getattr(module, "weight_hh" + sfx).copy_(W[:, :H])
                getattr(module, "weight_ih" + sfx).copy_(W[:, H:])
                if cell.bias:
                    getattr(module, "bias_ih" + sfx).copy_(torch.cat(b_ih))
                    getattr(module, "bias_hh" + sfx).copy_(torch.cat(b_hh))
    return module
