"""Gradient flow through time: the per-step norms against autograd computed another way, and the command on
untrained cells and on trained runs."""

import json

import pytest
import torch

from rnnkit.diagnostics import input_gradient_norms, state_gradient_norms
from rnnkit.layers import GRU, LSTM, RNN
from tests.cli.conftest import SMALL


def _unit(seed, n):
    r = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return r / r.norm()


def test_gradient_reaching_early_inputs_vanishes_in_a_vanilla_rnn_not_in_an_open_lstm():
    torch.manual_seed(0)
    x = torch.randn(40, 4, 6)
    rnn_norms = input_gradient_norms(RNN(6, 16), x)
    lstm_norms = input_gradient_norms(LSTM(6, 16, forget_bias=4.0), x)
    assert rnn_norms.shape == (40,)
    assert rnn_norms[0] < 1e-6 * rnn_norms[-1]
    assert lstm_norms[0] > 1e-2 * lstm_norms[-1]


def test_norms_match_autograd_on_a_single_input_step():
    torch.manual_seed(0)
    layer = RNN(3, 5)
    x = torch.randn(1, 1, 3)
    norms = input_gradient_norms(layer, x, seed=0)
    r = _unit(0, 5).float()
    # a<1> = tanh(W_ax x + b): ∂(r·a)/∂x = W_axᵀ (r * (1 − a²))
    a = torch.tanh(x[0, 0] @ layer.cells[0].W_a[:, 5:].T + layer.cells[0].b_a)
    expected = (layer.cells[0].W_a[:, 5:].T @ (r * (1 - a ** 2))).norm()
    assert torch.allclose(norms[0], expected.detach(), atol=1e-6)


def test_vanilla_rnn_state_gradients_are_the_jacobian_products():
    # a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b): ∂L/∂a<T> = r, ∂L/∂a<t> = W_aaᵀ ((1 − a<t+1>²) * ∂L/∂a<t+1>)
    torch.manual_seed(1)
    H, T, B = 6, 9, 3
    layer = RNN(4, H).double()
    x = torch.randn(T, B, 4, dtype=torch.float64)
    (curve,) = state_gradient_norms(layer, x, seed=5)
    assert (curve.layer, curve.direction, curve.state) == (1, "forward", "a")
    with torch.no_grad():
        a, _ = layer(x)                                                        # (T, B, H)
        W_aa = layer.cells[0].W_a[:, :H]
        g = _unit(5, H).expand(B, H)
        expected = [None] * T
        expected[-1] = g.norm(dim=1).mean()
        for t in range(T - 2, -1, -1):
            g = ((1 - a[t + 1] ** 2) * g) @ W_aa
            expected[t] = g.norm(dim=1).mean()
    torch.testing.assert_close(curve.norms, torch.stack(expected))


def _step_with_bumps(cell, x_t, state, bumps):
    """One step with ε added to each new state where it is made: for the LSTM, the notes' equations with
    c<t> = Γu * c̃ + Γf * c<t-1> + ε_c before a<t> = Γo * tanh(c<t>) + ε_a reads it; a GRU's only state is its
    output, so ε is added to what the cell returns."""
    if len(bumps) == 1:
        return (cell(x_t, state)[0] + bumps[0],)
    a_prev, c_prev = state
    z = torch.cat([a_prev, x_t], dim=1)
    c_tilde = torch.tanh(z @ cell.W_c.T + cell.b_c)
    gamma_u, gamma_f, gamma_o = (torch.sigmoid(z @ W.T + b) for W, b in
                                 ((cell.W_u, cell.b_u), (cell.W_f, cell.b_f), (cell.W_o, cell.b_o)))
    c = gamma_u * c_tilde + gamma_f * c_prev + bumps[1]
    return gamma_o * torch.tanh(c) + bumps[0], c


@pytest.mark.parametrize("layer_class, bidirectional", [(LSTM, False), (LSTM, True), (GRU, True)])
def test_deep_state_gradients_equal_the_gradients_of_perturbations_added_to_each_state(layer_class, bidirectional):
    # An independent route to ∂L/∂s<t>: add a zero perturbation ε<t> to every state after its step and
    # differentiate with respect to ε<t> (the total derivative, through later steps and upper layers).
    torch.manual_seed(2)
    H, T, B = 5, 7, 2
    layer = layer_class(3, H, num_layers=2, bidirectional=bidirectional).double()
    x = torch.randn(T, B, 3, dtype=torch.float64)
    curves = {(c.layer, c.direction, c.state): c.norms for c in state_gradient_norms(layer, x, seed=3)}
    D = 2 if bidirectional else 1
    eps, layer_input = {}, x
    for l in range(2):
        outs = []
        for d in range(D):
            cell = layer.cells[l * D + d]
            state, steps = cell.init_state(B, dtype=torch.float64), [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                bumps = [torch.zeros(B, H, dtype=torch.float64, requires_grad=True) for _ in layer.state_names]
                state = _step_with_bumps(cell, layer_input[t], state, bumps)
                for name, e in zip(layer.state_names, bumps):
                    eps[(l + 1, "backward" if d else "forward", name, t)] = e
                steps[t] = state[0]
            outs.append(torch.stack(steps))
        layer_input = torch.cat(outs, dim=2)
    loss = (layer_input[-1] @ _unit(3, D * H)).sum()
    keys = list(eps)
    grads = torch.autograd.grad(loss, [eps[k] for k in keys], allow_unused=True)
    found = dict(zip(keys, grads))
    assert len(curves) == 2 * D * len(layer.state_names)
    for (l, d, name), norms in curves.items():
        expected = torch.stack([torch.zeros(()) if found[(l, d, name, t)] is None
                                else found[(l, d, name, t)].norm(dim=1).mean() for t in range(T)])
        torch.testing.assert_close(norms, expected.to(norms.dtype))


def test_command_on_untrained_cells_writes_a_folder_with_picture_and_table(rnnkit, tmp_path):
    out = tmp_path / "flow"
    code, stdout, err = rnnkit("diagnose", "gradients", "--cells", "rnn,lstm", "--layers", "2", "--length", "30",
                               "--hidden", "8", "--out", out)
    assert code == 0, err
    assert (out / "gradient-flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = json.loads((out / "gradient-flow.json").read_text())
    names = {(c["model"], c["layer"], c["state"]) for c in table["curves"]}
    assert names == {("rnn", 1, "a"), ("rnn", 2, "a"), ("lstm", 1, "a"), ("lstm", 1, "c"), ("lstm", 2, "a"),
                     ("lstm", 2, "c")}
    top = {c["model"]: c for c in table["curves"] if c["layer"] == 2 and c["state"] == "a"}
    for curve in top.values():
        assert len(curve["norms"]) == 30
        assert curve["norms"][-1] == pytest.approx(1.0)                       # ∂(r·a<T>)/∂a<T> = r, ‖r‖ = 1
    assert top["rnn"]["decades_lost"] > 3                                      # the vanilla RNN's gradient vanishes
    assert str(out / "gradient-flow.png") in stdout and str(out / "gradient-flow.json") in stdout


def test_command_errors_are_one_line_with_status_2(rnnkit, tmp_path):
    assert rnnkit("diagnose", "gradients", "--cells", "nope", "--out", tmp_path / "a")[0] == 2
    code, _, err = rnnkit("diagnose", "gradients", "--out", tmp_path / "flow.png")
    assert code == 2 and "folder" in err
    code, _, err = rnnkit("diagnose", "gradients", tmp_path / "missing", "--out", tmp_path / "b")
    assert code == 2 and "not a run directory" in err


def test_command_on_a_trained_language_model_and_classifier(rnnkit, corpus, tmp_path):
    lm = tmp_path / "lm"
    code, _, err = rnnkit("lm", "train", "--data", corpus, "--out", lm, "--cache-dir", tmp_path / "cache",
                          *[a if a != "1" else "2" for a in SMALL], "--cell", "lstm", "--steps", "6")
    assert code == 0, err
    out = tmp_path / "lm-flow"
    code, stdout, err = rnnkit("diagnose", "gradients", lm, "--length", "20", "--batch", "3", "--out", out)
    assert code == 0, err
    curves = json.loads((out / "gradient-flow.json").read_text())["curves"]
    assert {(c["layer"], c["state"]) for c in curves} == {(1, "a"), (1, "c"), (2, "a"), (2, "c")}
    assert all("corpus.txt" in c["input"] for c in curves)                   # real windows of its text
    top = next(c for c in curves if (c["layer"], c["state"]) == (2, "a"))
    assert top["norms"][-1] == pytest.approx(1.0, rel=1e-5)

    data = tmp_path / "tiny.tsv"
    data.write_text("".join(f"{'x' if i % 2 else 'y'}\t{'ab' * (3 + i % 5)}\n" for i in range(40)))
    clf = tmp_path / "clf"
    code, _, err = rnnkit("classify", "train", "--data", data, "--format", "tsv", "--level", "char", "--out", clf,
                          "--steps", "4", "--hidden", "8", "--quiet")
    assert code == 0, err
    code, _, err = rnnkit("diagnose", "gradients", clf, "--length", "8", "--batch", "2", "--out", tmp_path / "cf")
    assert code == 0, err
    curves = json.loads((tmp_path / "cf" / "gradient-flow.json").read_text())["curves"]
    assert {(c["direction"], c["state"]) for c in curves} == {("forward", "a"), ("forward", "c"),
                                                              ("backward", "a"), ("backward", "c")}
    code, _, err = rnnkit("diagnose", "gradients", clf, "--length", "99", "--out", tmp_path / "cg")
    assert code == 2 and "--length" in err
