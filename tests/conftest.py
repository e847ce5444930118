"""Shared fixtures for the core tests: fixed seeds, float64, and the notation written out by hand.

The reference math here is written from the equations of DESIGN.md §1 using only the cells' *named*
parameters (``W_c = [W_cc | W_cx]`` split as ``W[:, :H] @ a + W[:, H:] @ x``); it never calls a cell's
``forward``, so agreement with it means the cell computes the notes, not merely itself.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import rnnkit

DTYPE = torch.float64

# (id, cell class, cell options): every built-in cell formulation, with and without bias.
_FORMS = [
    ("rnn-tanh", rnnkit.RNNCell, {}),
    ("rnn-relu", rnnkit.RNNCell, {"nonlinearity": "relu"}),
    ("simple-gru", rnnkit.SimpleGRUCell, {}),
    ("gru", rnnkit.GRUCell, {}),
    ("gru-reset-after", rnnkit.GRUCell, {"reset_after": True}),
    ("lstm", rnnkit.LSTMCell, {}),
    ("lstm-peephole", rnnkit.LSTMCell, {"peephole": True}),
]
CELL_SPECS = [
    pytest.param((cls, {**opts, "bias": bias}), id=f"{name}{'' if bias else '-nobias'}")
    for name, cls, opts in _FORMS for bias in (True, False)
]
LAYER_CLASS = {rnnkit.RNNCell: rnnkit.RNN, rnnkit.SimpleGRUCell: rnnkit.SimpleGRU, rnnkit.GRUCell: rnnkit.GRU,
               rnnkit.LSTMCell: rnnkit.LSTM}


def specs_for(*classes):
    """The entries of CELL_SPECS whose cell class is one of ``classes``."""
    return [p for p in CELL_SPECS if p.values[0][0] in classes]


def pytest_generate_tests(metafunc):
    """A test taking ``cell_spec`` runs for every cell form with and without bias (or only those of its
    module's ``CELL_CLASSES``); one taking ``biased_cell_spec`` runs for every form with bias (costly checks).
    """
    classes = getattr(metafunc.module, "CELL_CLASSES", tuple(LAYER_CLASS))
    if "cell_spec" in metafunc.fixturenames:
        metafunc.parametrize("cell_spec", specs_for(*classes))
    if "biased_cell_spec" in metafunc.fixturenames:
        metafunc.parametrize("biased_cell_spec", [p for p in specs_for(*classes) if p.values[0][1]["bias"]])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(params=["reference", "auto"])
def engine(request):
    return request.param


# --- the equations of DESIGN.md §1, written out ------------------------------------------------------------

def lin(W, b, h, x):
    """``W [h, x] + b`` with the state block first: ``W[:, :H] @ h + W[:, H:] @ x + b``; h (B, H), x (B, X)."""
    H = h.shape[1]
    z = h @ W[:, :H].T + x @ W[:, H:].T
    return z if b is None else z + b


def sigma(z):
    return 1.0 / (1.0 + torch.exp(-z))


def step(cell, x, state):
    """One step of ``cell`` from its named parameters and the notes' equations (not ``cell.forward``)."""
    P = dict(cell.named_parameters())
    b = lambda g: P.get(f"b_{g}")  # None without bias
    if isinstance(cell, rnnkit.RNNCell):
        (a,) = state
        z = lin(P["W_a"], b("a"), a, x)
        return ((torch.tanh(z) if cell.nonlinearity == "tanh" else z.clamp(min=0)),)
    if isinstance(cell, rnnkit.SimpleGRUCell):
        (c,) = state
        c_tilde = torch.tanh(lin(P["W_c"], b("c"), c, x))
        gamma_u = sigma(lin(P["W_u"], b("u"), c, x))
        return (gamma_u * c_tilde + (1 - gamma_u) * c,)
    if isinstance(cell, rnnkit.GRUCell):
        (c,) = state
        H = c.shape[1]
        gamma_r = sigma(lin(P["W_r"], b("r"), c, x))
        if cell.reset_after:
            W_c = P["W_c"]
            rec = c @ W_c[:, :H].T + (P["b_cc"] if "b_cc" in P else 0)
            inp = x @ W_c[:, H:].T + (P["b_c"] if "b_c" in P else 0)
            c_tilde = torch.tanh(inp + gamma_r * rec)
        else:
            c_tilde = torch.tanh(lin(P["W_c"], b("c"), gamma_r * c, x))
        gamma_u = sigma(lin(P["W_u"], b("u"), c, x))
        return (gamma_u * c_tilde + (1 - gamma_u) * c,)
    if isinstance(cell, rnnkit.LSTMCell):
        a, c = state
        peep = lambda g: P[f"P_{g}"] * c if cell.peephole else 0
        c_tilde = torch.tanh(lin(P["W_c"], b("c"), a, x))
        gamma_u = sigma(lin(P["W_u"], b("u"), a, x) + peep("u"))
        gamma_f = sigma(lin(P["W_f"], b("f"), a, x) + peep("f"))
        gamma_o = sigma(lin(P["W_o"], b("o"), a, x) + peep("o"))
        c_new = gamma_u * c_tilde + gamma_f * c
        return (gamma_o * torch.tanh(c_new), c_new)
    # any other cell (a user-written one) follows the contract; its own forward is its reference
    return tuple(cell(x, state))


def run_layer(layer, x, state=None, lengths=None, step_fn=step, dropout_masks=None):
    """A layer by hand: each sequence alone, cut to its own length, through every layer and direction.

    x (T, B, X) time-major; state tuple of (L·D, B, H) or None; returns outputs (T, B, D·H) zero-padded and
    the final state as a tuple of (L·D, B, H). ``dropout_masks[l]`` (T, B, D·H) multiplies layer l's output.
    """
    T, B, _ = x.shape
    L, D, H = layer.num_layers, layer.num_directions, layer.hidden_size
    n_state = len(layer.state_names)
    lengths = [T] * B if lengths is None else [int(n) for n in lengths]
    outputs = x.new_zeros(T, B, D * H)
    finals = [[[None] * B for _ in range(L * D)] for _ in range(n_state)]
    for bi in range(B):
        n = lengths[bi]
        seq = [x[t, bi:bi + 1] for t in range(n)]  # a list of (1, X)
        for l in range(L):
            per_dir = []
            for d in range(D):
                k = l * D + d
                cell = layer.cells[k]
                s = (tuple(torch.zeros(1, H, dtype=x.dtype) for _ in range(n_state)) if state is None
                     else tuple(part[k, bi:bi + 1] for part in state))
                outs = [None] * n
                order = range(n) if d == 0 else range(n - 1, -1, -1)  # backward: starts at its own last step
                for t in order:
                    s = step_fn(cell, seq[t], s)
                    outs[t] = s[0]
                per_dir.append(outs)
                for i in range(n_state):
                    finals[i][k][bi] = s[i]
            seq = [torch.cat([per_dir[d][t] for d in range(D)], dim=1) for t in range(n)]
            if dropout_masks is not None and l < L - 1:
                seq = [seq[t] * dropout_masks[l][t, bi:bi + 1] for t in range(n)]
        for t in range(n):
            outputs[t, bi] = seq[t][0]
    final = tuple(torch.stack([torch.cat(finals[i][k], dim=0) for k in range(L * D)]) for i in range(n_state))
    return outputs, final


def make_cell(spec, input_size=3, hidden_size=4, **options):
    """The cell for a (cell class, cell options) spec, in float64."""
    cls, cell_options = spec
    return cls(input_size, hidden_size, dtype=DTYPE, **options, **cell_options)


def make_layer(spec, input_size=3, hidden_size=4, **options):
    """The built-in layer for a (cell class, cell options) spec, in float64."""
    cls, cell_options = spec
    return LAYER_CLASS[cls](input_size, hidden_size, dtype=DTYPE, **options, **cell_options)


def random_state(layer, batch_size, scale=0.5):
    n = layer.num_layers * layer.num_directions
    return tuple(scale * torch.randn(n, batch_size, layer.hidden_size, dtype=DTYPE) for _ in layer.state_names)


def central_difference(f, tensor, index, eps=1e-6):
    """``(f(θ + ε) − f(θ − ε)) / 2ε`` for one entry of ``tensor``, restored afterwards."""
    with torch.no_grad():
        old = tensor[index].item()
        tensor[index] = old + eps
        up = f().item()
        tensor[index] = old - eps
        down = f().item()
        tensor[index] = old
    return (up - down) / (2 * eps)


# --- checks shared by the per-family cell tests --------------------------------------------------------------

def check_step_matches_equations(spec, batch_size=3, input_size=3, hidden_size=4):
    cell = make_cell(spec, input_size, hidden_size)
    with torch.no_grad():  # widen the parameters so every nonlinearity leaves its linear region
        for p in cell.parameters():
            p.mul_(2.0)
    x = torch.randn(batch_size, input_size, dtype=DTYPE)
    state = tuple(torch.randn(batch_size, hidden_size, dtype=DTYPE) for _ in cell.state_names)
    got = cell(x, state)
    want = step(cell, x, state)
    assert isinstance(got, tuple) and len(got) == len(cell.state_names)
    for g, w in zip(got, want):
        assert g.shape == (batch_size, hidden_size)
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)
    return cell, x, state, got


def check_cell_gradcheck(spec, batch_size=2, input_size=2, hidden_size=3):
    cell = make_cell(spec, input_size, hidden_size)
    names = [n for n, _ in cell.named_parameters()]
    x = torch.randn(batch_size, input_size, dtype=DTYPE, requires_grad=True)
    state = [torch.randn(batch_size, hidden_size, dtype=DTYPE, requires_grad=True) for _ in cell.state_names]
    params = [p.detach().clone().requires_grad_(True) for p in cell.parameters()]
    n_state = len(state)

    def f(x, *rest):
        s, ps = tuple(rest[:n_state]), rest[n_state:]
        return torch.func.functional_call(cell, dict(zip(names, ps)), (x, s))

    assert torch.autograd.gradcheck(f, (x, *state, *params), eps=1e-6, atol=1e-7)


@pytest.fixture
def ref():
    """The hand-written reference and helpers: ``ref.step``, ``ref.run_layer``, ``ref.make_layer``, …"""
    return SimpleNamespace(step=step, run_layer=run_layer, make_layer=make_layer, make_cell=make_cell,
                           random_state=random_state, central_difference=central_difference,
                           check_step=check_step_matches_equations, check_gradcheck=check_cell_gradcheck)


def _native_status() -> str:
    from rnnkit.engine import native

    loaded = native.library() is not None
    loops = loaded and native.training_loops() is not None
    return (f"compiled kernels: {native.reason()}; training loops {'on' if loops else 'OFF'}"
            + ("" if loaded else " — every test that needs them is SKIPPED on this machine"))


def pytest_report_header(config):
    """The first lines of every run say whether the compiled kernels were built (their tests skip if not)."""
    return _native_status()


def pytest_terminal_summary(terminalreporter):
    """…and so do the last, where a skip would otherwise go unnoticed."""
    from rnnkit.engine import native

    if native.library() is None:
        terminalreporter.write_line(_native_status(), yellow=True, bold=True)
