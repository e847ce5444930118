import argparse
import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

import rnnkit
from rnnkit.cli.diagnose_inside import register
from rnnkit.cli.lm_use import load_lm
from rnnkit.diagnostics.gates import gate_values, saturation_fractions, trace
from rnnkit.errors import RnnkitError
from rnnkit.models import LanguageModel
from tests.cli.conftest import CORPUS, SMALL


def _cli(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args([str(a) for a in argv])
    return args.handler(args)


def _variant(run, dst, seed=0, gate_scale=1.0, **model):
    """A copy of RUN whose model config is changed by ``model`` and whose weights are drawn fresh (seed),
    with every gate weight multiplied by ``gate_scale`` (so that gates saturate)."""
    dst.mkdir()
    config = json.loads((run / "config.json").read_text())
    config["model"].update(model)
    (dst / "config.json").write_text(json.dumps(config))
    shutil.copy(run / "vocab.json", dst / "vocab.json")
    torch.manual_seed(seed)
    lm = LanguageModel.from_config(config["model"])
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if name.split(".")[-1][:3] in ("W_u", "W_f", "W_o", "W_r"):
                p.mul_(gate_scale)
    save_file({k: v.contiguous() for k, v in lm.state_dict().items()}, str(dst / "model.safetensors"))
    return dst


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A tiny LSTM language model, trained by the real 'rnnkit lm train' for a few steps, and its text."""
    from rnnkit.cli.main import main

    tmp = tmp_path_factory.mktemp("gates")
    corpus = tmp / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    argv = ["lm", "train", "--data", corpus, "--out", tmp / "run", "--cache-dir", tmp / "cache", *SMALL,
            "--steps", "6", "--seed", "3"]
    assert main([str(a) for a in argv]) == 0
    return tmp / "run", corpus


# --- saturation fractions on hand-built activations ----------------------------------------------------------

def test_saturation_fractions_count_only_valid_steps():
    # T = 4, B = 2, H = 2; sequence 1 has all 4 steps, sequence 2 only its first 2 (the rest is padding)
    g = torch.tensor([
        [[0.05, 0.50], [0.95, 0.00]],
        [[0.95, 0.99], [0.01, 0.50]],
        [[0.50, 0.02], [0.99, 0.99]],    # sequence 2: padding from here on
        [[0.00, 0.97], [0.00, 0.00]],
    ])
    left, right = saturation_fractions(g, torch.tensor([4, 2]))
    # unit 0 over the 6 valid steps: 0.05, 0.95, 0.50, 0.00 | 0.95, 0.01 → left 3/6, right 2/6
    # unit 1: 0.50, 0.99, 0.02, 0.97 | 0.00, 0.50 → left 2/6, right 2/6
    torch.testing.assert_close(left, torch.tensor([3 / 6, 2 / 6], dtype=torch.float64))
    torch.testing.assert_close(right, torch.tensor([2 / 6, 2 / 6], dtype=torch.float64))
    # with every step valid the padding counts: unit 0 left 5/8, right 3/8
    left, right = saturation_fractions(g)
    assert left[0] == 4 / 8 and right[0] == 3 / 8


def test_saturation_thresholds_are_strict():
    g = torch.tensor([0.1, 0.9, 0.0999, 0.9001, 0.5], dtype=torch.float64).view(5, 1, 1)
    left, right = saturation_fractions(g)
    assert left.item() == 1 / 5 and right.item() == 1 / 5
    left, right = saturation_fractions(g, left=0.2, right=0.8)
    assert left.item() == 2 / 5 and right.item() == 2 / 5


@pytest.mark.parametrize("lengths", [torch.tensor([0, 2]), torch.tensor([5, 2]), torch.tensor([3])])
def test_saturation_rejects_lengths_outside_the_batch(lengths):
    with pytest.raises(ValueError, match="lengths"):
        saturation_fractions(torch.rand(4, 2, 3), lengths)


# --- the gates are the cell's own ----------------------------------------------------------------------------

@pytest.mark.parametrize("cell, options, order", [
    (rnnkit.LSTMCell, {}, ("gamma_u", "gamma_f", "gamma_o")),
    (rnnkit.LSTMCell, {"peephole": True}, ("gamma_u", "gamma_f", "gamma_o")),
    (rnnkit.GRUCell, {}, ("gamma_r", "gamma_u")),
    (rnnkit.GRUCell, {"reset_after": True}, ("gamma_r", "gamma_u")),
    (rnnkit.SimpleGRUCell, {}, ("gamma_u",)),
])
def test_gate_values_are_the_sigmoids_the_cell_computes(cell, options, order, monkeypatch):
    torch.manual_seed(0)
    c = cell(3, 4, **options)
    x = torch.randn(2, 3)
    state = tuple(torch.randn(2, 4) for _ in c.state_names)
    seen = []
    sigmoid = torch.sigmoid
    monkeypatch.setattr(torch, "sigmoid", lambda z: seen.append(sigmoid(z)) or seen[-1])
    c(x, state)                                       # the cell's forward, recording each σ it applies
    monkeypatch.undo()
    gates = gate_values(c, x, state)
    assert set(gates) == set(order) and len(seen) == len(order)
    for name, want in zip(order, seen):
        torch.testing.assert_close(gates[name], want, rtol=0, atol=1e-7)


@pytest.mark.parametrize("layer_class", [rnnkit.LSTM, rnnkit.GRU, rnnkit.SimpleGRU, rnnkit.RNN])
def test_trace_follows_the_layer(layer_class):
    torch.manual_seed(1)
    layer = layer_class(3, 5, num_layers=2)
    x = torch.randn(7, 2, 3)
    state = layer.init_state(2)
    state = tuple(torch.randn_like(s) for s in state)
    outputs, final = layer(x, state)
    traces = trace(layer, x, state)
    assert len(traces) == 2
    torch.testing.assert_close(traces[-1].states["a"], outputs, rtol=0, atol=1e-6)
    for k, name in enumerate(layer.state_names):             # the final state of every layer
        torch.testing.assert_close(torch.stack([t.states[name][-1] for t in traces]), final[k], rtol=0, atol=1e-6)
    n_gates = {rnnkit.LSTM: 3, rnnkit.GRU: 2, rnnkit.SimpleGRU: 1, rnnkit.RNN: 0}[layer_class]
    assert all(len(t.gates) == n_gates and all(g.shape == (7, 2, 5) for g in t.gates.values()) for t in traces)


def test_trace_refuses_a_bidirectional_layer():
    with pytest.raises(ValueError, match="unidirectional"):
        trace(rnnkit.GRU(3, 4, bidirectional=True), torch.randn(5, 1, 3))


# --- the command ---------------------------------------------------------------------------------------------

def test_gates_command_writes_the_fractions_of_the_model(lm_run, tmp_path, capsys):
    run, corpus = lm_run
    saturated = _variant(run, tmp_path / "saturated", seed=4, gate_scale=12.0)
    out = tmp_path / "out"
    assert _cli("gates", saturated, "--text", corpus, "--max-chars", 400, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "gates.png" in printed and "gates.json" in printed and "forget gate" in printed
    assert (out / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "gates.json").read_text())
    assert report["tokens"] == 400 and report["cell"] == "lstm"

    # the gates computed here by hand from the named weights and a<t-1> of the layer's own (fast) forward
    model, vocab, _ = load_lm(str(saturated))
    ids = torch.tensor([vocab.stoi["\n"]] + vocab.encode(list(CORPUS[:400])))   # the start token, then the text
    with torch.no_grad():
        x = model.embed(ids)                                                     # (T, X)
        a = model.rnn(x.unsqueeze(0))[0][0]                                      # (T, H)
        a_prev = torch.cat([torch.zeros(1, a.shape[1]), a[:-1]])
        cell, H = model.rnn.cells[0], a.shape[1]
        gates = report["layers"][0]["gates"]
        assert set(gates) == {"gamma_u", "gamma_f", "gamma_o"}
        for name in gates:
            W, b = getattr(cell, f"W_{name[-1]}"), getattr(cell, f"b_{name[-1]}")
            g = torch.sigmoid(a_prev @ W[:, :H].T + x @ W[:, H:].T + b)[1:]        # steps of the text only
            left, right = (g < 0.1).double().mean(0), (g > 0.9).double().mean(0)
            assert gates[name]["left_saturated"] == pytest.approx(left.tolist(), abs=1.5 / 400)
            assert gates[name]["right_saturated"] == pytest.approx(right.tolist(), abs=1.5 / 400)
            assert gates[name]["mean_left"] == pytest.approx(float(left.mean()), abs=1e-3)
            assert 0.05 < float(left.mean() + right.mean()) < 0.999          # the scaled gates do saturate
    assert report["summary"]["gamma_f"]["mean_left"] == pytest.approx(gates["gamma_f"]["mean_left"])


def test_gates_command_on_a_two_layer_gru(lm_run, tmp_path):
    run, corpus = lm_run
    gru = _variant(run, tmp_path / "gru", cell="gru", num_layers=2, gate_scale=6.0)
    out = tmp_path / "out"
    assert _cli("gates", gru, "--text", corpus, "--max-chars", 200, "--out", out) == 0
    report = json.loads((out / "gates.json").read_text())
    assert [set(layer["gates"]) for layer in report["layers"]] == [{"gamma_u", "gamma_r"}] * 2
    for layer in report["layers"]:
        for s in layer["gates"].values():
            assert len(s["left_saturated"]) == 16
            assert all(0 <= lo and 0 <= hi and lo + hi <= 1 for lo, hi in zip(s["left_saturated"],
                                                                                s["right_saturated"]))


def test_gates_command_errors(lm_run, tmp_path):
    run, corpus = lm_run
    rnn = _variant(run, tmp_path / "rnn", cell="rnn")
    with pytest.raises(RnnkitError, match="'rnn', which has no gates"):
        _cli("gates", rnn, "--text", corpus, "--out", tmp_path / "o")
    with pytest.raises(RnnkitError, match="no such file"):
        _cli("gates", run, "--text", tmp_path / "missing.txt", "--out", tmp_path / "o")
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("the fox €\n", encoding="utf-8")
    with pytest.raises(RnnkitError, match="unknown.txt: 1 character not in the vocabulary"):
        _cli("gates", run, "--text", unknown, "--out", tmp_path / "o")
    assert not (tmp_path / "o").exists()
