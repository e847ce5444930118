import torch

from rnnkit.cli.main import main
from rnnkit.diagnostics import input_gradient_norms
from rnnkit.layers import LSTM, RNN


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
    r = torch.randn(5, generator=torch.Generator().manual_seed(0))
    r = r / r.norm()
    # a<1> = tanh(W_ax x + b): ∂(r·a)/∂x = W_axᵀ (r * (1 − a²))
    a = torch.tanh(x[0, 0] @ layer.cells[0].W_a[:, 5:].T + layer.cells[0].b_a)
    expected = (layer.cells[0].W_a[:, 5:].T @ (r * (1 - a ** 2))).norm()
    assert torch.allclose(norms[0], expected.detach(), atol=1e-6)


def test_cli_writes_a_picture(tmp_path, capsys):
    out = tmp_path / "flow.png"
    assert main(["diagnose", "gradients", "--cells", "rnn,lstm", "--length", "12", "--hidden", "8",
                 "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rnn" in capsys.readouterr().out
    assert main(["diagnose", "gradients", "--cells", "nope", "--out", str(out)]) == 2
