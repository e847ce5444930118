"""rnnkit/interop.py: from_torch / to_torch, checked against torch.nn itself.

The weight mapping is written out again here, independently of interop.py, from the table in its docstring:
rnnkit keeps one ``W_g = [W_hh_g | W_ih_g]`` per gate; torch stacks gates as RNN (a), LSTM (i=u, f, g=c, o),
GRU (r, z, n) with ``z = −u`` (Γu = 1 − z) and the GRU candidate's recurrent bias kept apart as ``b_cc``.
"""

import itertools

import pytest
import torch
from torch import nn

import rnnkit

F64 = torch.float64
T, B, X, H = 4, 3, 3, 2

# torch gate order -> (rnnkit gate, sign)
TORCH_LAYOUT = {
    "RNN": [("a", 1.0)],
    "LSTM": [("u", 1.0), ("f", 1.0), ("c", 1.0), ("o", 1.0)],
    "GRU": [("r", 1.0), ("u", -1.0), ("c", 1.0)],
}
KINDS = {"rnn-tanh": (nn.RNN, {"nonlinearity": "tanh"}), "rnn-relu": (nn.RNN, {"nonlinearity": "relu"}),
         "gru": (nn.GRU, {}), "lstm": (nn.LSTM, {})}
CONFIGS = [
    pytest.param(kind, L, bi, bias, bf, id=f"{kind}-L{L}{'-bi' if bi else ''}{'' if bias else '-nobias'}"
                 f"{'-bf' if bf else ''}")
    for kind, L, bi, bias, bf in itertools.product(KINDS, (1, 2), (False, True), (True, False), (False, True))
]


def _torch_module(kind, num_layers, bidirectional, bias, batch_first, dtype=F64):
    cls, opts = KINDS[kind]
    return cls(X, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, batch_first=batch_first,
               dtype=dtype, **opts)


def _sfx(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction else "")


def _expected_torch_grads(layer, kind_name):
    """rnnkit's parameter gradients rearranged into torch's parameter names and layout."""
    D = layer.num_directions
    out = {}
    for l in range(layer.num_layers):
        for d in range(D):
            cell = layer.cells[l * D + d]
            sfx = _sfx(l, d)
            layout = TORCH_LAYOUT[kind_name]
            out["weight_hh" + sfx] = torch.cat([s * getattr(cell, f"W_{g}").grad[:, :H] for g, s in layout])
            out["weight_ih" + sfx] = torch.cat([s * getattr(cell, f"W_{g}").grad[:, H:] for g, s in layout])
            if cell.bias:
                out["bias_ih" + sfx] = torch.cat([s * getattr(cell, f"b_{g}").grad for g, s in layout])
                # b_g = b_ih_g + b_hh_g, so both get b_g's gradient; except the GRU candidate's b_hh_n = b_cc
                out["bias_hh" + sfx] = torch.cat([
                    cell.b_cc.grad if (kind_name == "GRU" and g == "c") else s * getattr(cell, f"b_{g}").grad
                    for g, s in layout])
    return out


@pytest.mark.parametrize("kind, num_layers, bidirectional, bias, batch_first", CONFIGS)
def test_from_torch_agrees_with_torch(kind, num_layers, bidirectional, bias, batch_first, engine):
    module = _torch_module(kind, num_layers, bidirectional, bias, batch_first)
    layer = rnnkit.from_torch(module)
    layer.engine = engine
    kind_name = type(module).__name__
    expected_class = {"RNN": rnnkit.RNN, "GRU": rnnkit.GRU, "LSTM": rnnkit.LSTM}[kind_name]
    assert type(layer) is expected_class
    assert (layer.num_layers, layer.bidirectional, layer.batch_first) == (num_layers, bidirectional, batch_first)
    assert all(cell.bias == bias for cell in layer.cells)
    if kind_name == "GRU":
        assert all(cell.reset_after for cell in layer.cells)
    if kind_name == "RNN":
        assert all(cell.nonlinearity == KINDS[kind][1]["nonlinearity"] for cell in layer.cells)

    D = 2 if bidirectional else 1
    x = torch.randn(*((B, T) if batch_first else (T, B)), X, dtype=F64)
    x_t, x_r = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    n_state = 2 if kind_name == "LSTM" else 1
    s0 = [torch.randn(num_layers * D, B, H, dtype=F64) for _ in range(n_state)]
    s0_t = [s.clone().requires_grad_(True) for s in s0]
    s0_r = [s.clone().requires_grad_(True) for s in s0]

    y_t, s_t = module(x_t, tuple(s0_t) if n_state == 2 else s0_t[0])
    s_t = s_t if n_state == 2 else (s_t,)
    y_r, s_r = layer(x_r, tuple(s0_r))
    torch.testing.assert_close(y_r, y_t, rtol=0, atol=1e-12)
    for u, v in zip(s_r, s_t):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)

    w_y = torch.randn_like(y_t)
    w_s = [torch.randn_like(s) for s in s_t]
    ((w_y * y_t).sum() + sum((w * s).sum() for w, s in zip(w_s, s_t))).backward()
    ((w_y * y_r).sum() + sum((w * s).sum() for w, s in zip(w_s, s_r))).backward()
    torch.testing.assert_close(x_r.grad, x_t.grad, rtol=0, atol=1e-12)
    for u, v in zip(s0_r, s0_t):
        torch.testing.assert_close(u.grad, v.grad, rtol=0, atol=1e-12)
    expected = _expected_torch_grads(layer, kind_name)
    torch_grads = {name: p.grad for name, p in module.named_parameters()}
    assert set(expected) == set(torch_grads)
    for name, g in torch_grads.items():
        torch.testing.assert_close(expected[name], g, rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize("kind, num_layers, bidirectional, bias, batch_first", CONFIGS)
def test_to_torch_round_trip(kind, num_layers, bidirectional, bias, batch_first):
    cls, opts = {"rnn-tanh": (rnnkit.RNN, {}), "rnn-relu": (rnnkit.RNN, {"nonlinearity": "relu"}),
                 "gru": (rnnkit.GRU, {"reset_after": True}), "lstm": (rnnkit.LSTM, {})}[kind]
    layer = cls(X, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, batch_first=batch_first,
                dtype=F64, **opts)
    module = layer.to_torch()
    assert type(module) is {rnnkit.RNN: nn.RNN, rnnkit.GRU: nn.GRU, rnnkit.LSTM: nn.LSTM}[cls]
    assert (module.num_layers, module.bidirectional, module.batch_first, module.bias) == (
        num_layers, bidirectional, batch_first, bias)
    if cls is rnnkit.RNN:
        assert module.nonlinearity == opts.get("nonlinearity", "tanh")
    x = torch.randn(*((B, T) if batch_first else (T, B)), X, dtype=F64)
    y, s = layer(x)
    y_t, s_t = module(x)
    s_t = s_t if isinstance(s_t, tuple) else (s_t,)
    torch.testing.assert_close(y_t, y, rtol=0, atol=1e-12)
    for u, v in zip(s_t, s):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)
    # rnnkit -> torch -> rnnkit gives back exactly the same parameters
    back = rnnkit.from_torch(module)
    original = dict(layer.named_parameters())
    for name, p in back.named_parameters():
        torch.testing.assert_close(p, original[name], rtol=0, atol=1e-15, msg=name)
    assert set(original) == {n for n, _ in back.named_parameters()}
    # torch -> rnnkit -> torch keeps the weights, and the bias sums b_ih + b_hh torch computes with
    torch_module = _torch_module(kind, num_layers, bidirectional, bias, batch_first)
    again = dict(rnnkit.from_torch(torch_module).to_torch().named_parameters())
    for name, p in torch_module.named_parameters():
        if name.startswith("weight"):
            torch.testing.assert_close(again[name], p, rtol=0, atol=0, msg=name)
        elif name.startswith("bias_ih"):
            hh = name.replace("bias_ih", "bias_hh")
            if isinstance(torch_module, nn.GRU):  # the candidate keeps b_in and b_hn apart
                torch.testing.assert_close(again[name][:2 * H] + again[hh][:2 * H],
                                           p[:2 * H] + dict(torch_module.named_parameters())[hh][:2 * H])
                torch.testing.assert_close(again[hh][2 * H:], dict(torch_module.named_parameters())[hh][2 * H:])
            else:
                torch.testing.assert_close(again[name] + again[hh], p + dict(torch_module.named_parameters())[hh])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_agree_with_packed_sequences(kind, bidirectional):
    module = _torch_module(kind, 2, bidirectional, True, False)
    layer = rnnkit.from_torch(module)
    lengths = torch.tensor([4, 1, 3])
    x = torch.randn(T, B, X, dtype=F64)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    y_packed, s_t = module(packed)
    y_t, _ = nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    s_t = s_t if isinstance(s_t, tuple) else (s_t,)
    y, s = layer(x, lengths=lengths)
    torch.testing.assert_close(y, y_t, rtol=0, atol=1e-12)
    for u, v in zip(s, s_t):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)


def test_float32_and_dropout_carried_over():
    module = nn.LSTM(X, H, num_layers=2, dropout=0.25)
    layer = rnnkit.from_torch(module)
    assert layer.dropout == 0.25 and layer.to_torch().dropout == 0.25
    assert all(p.dtype == torch.float32 for p in layer.parameters())
    x = torch.randn(T, B, X)
    layer.eval()
    module.eval()
    torch.testing.assert_close(layer(x)[0], module(x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [
    rnnkit.LSTM(X, H, peephole=True), rnnkit.GRU(X, H), rnnkit.SimpleGRU(X, H),
], ids=["peephole-lstm", "gru-reset-before", "simple-gru"])
def test_to_torch_refuses_what_torch_cannot_compute(layer):
    with pytest.raises(ValueError, match="torch.nn has no equivalent"):
        layer.to_torch()


def test_from_torch_refuses_other_modules():
    with pytest.raises(TypeError, match="Linear"):
        rnnkit.from_torch(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="proj_size"):
        rnnkit.from_torch(nn.LSTM(X, 4, proj_size=2))
