import argparse
import json
import math

import pytest
import torch

from rnnkit.cli.diagnose_training import register
from rnnkit.diagnostics.clipping import clipping_experiment, plot_clipping, scale_recurrent_weights
from rnnkit.errors import RnnkitError
from rnnkit.layers import RNN


def _cli(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(list(argv))
    return args.handler(args)


@pytest.fixture(scope="module")
def result():
    return clipping_experiment(steps=60, seed=0)     # rnn, recurrent weights ×3, SGD lr 0.1, T = 50


def test_scale_multiplies_the_recurrent_block_only():
    layer = RNN(3, 4)
    W = layer.cells[0].W_a.detach().clone()
    scale_recurrent_weights(layer, 3.0)
    torch.testing.assert_close(layer.cells[0].W_a[:, :4], 3 * W[:, :4])    # W_aa
    torch.testing.assert_close(layer.cells[0].W_a[:, 4:], W[:, 4:])        # W_ax unchanged


def test_unclipped_gradients_explode_and_the_loss_blows_up(result):
    none = result.runs["none"]
    assert none.diverged and none.diverged_at < 60
    assert len(none.losses) == none.diverged_at
    assert not (math.isfinite(none.losses[-1]) and math.isfinite(none.grad_norms[-1]))
    finite_norms = [g for g in none.grad_norms if math.isfinite(g)]
    assert max(finite_norms) > 1e4 * result.config["clip_norm"]            # far above the threshold
    assert max(v for v in none.losses if math.isfinite(v)) > 1e3 * none.losses[0]


def test_clipping_by_norm_bounds_the_step_and_ends_at_a_finite_lower_loss(result):
    norm, none = result.runs["norm"], result.runs["none"]
    assert not norm.diverged and len(norm.losses) == 60
    assert max(norm.grad_norms) > 10 * result.config["clip_norm"]           # clipping had work to do
    assert max(norm.clipped_norms) <= result.config["clip_norm"] * (1 + 1e-5)
    assert all(after <= before + 1e-6 for before, after in zip(norm.grad_norms, norm.clipped_norms))
    assert math.isfinite(norm.final_loss()) and norm.final_loss() < none.final_loss()
    assert norm.final_loss() < norm.losses[0]
    value = result.runs["value"]
    assert not value.diverged and math.isfinite(value.final_loss())


def test_all_runs_start_from_the_same_weights_and_batches(result):
    first = {name: run.losses[0] for name, run in result.runs.items()}
    assert len(set(first.values())) == 1
    assert result.runs["none"].grad_norms[0] == result.runs["norm"].grad_norms[0]


def test_a_picture_with_a_diverged_run(tmp_path, result):
    path = tmp_path / "c.png"
    assert plot_clipping(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_json_matches_what_the_function_returned(tmp_path, capsys, result):
    out = tmp_path / "clip"
    assert _cli("clipping", "--steps", "60", "--seed", "0", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'clipping.json'}" in printed and f"wrote {out / 'clipping.png'}" in printed
    assert (out / "clipping.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "clipping.json").read_text())
    assert data["config"] == result.config
    for name, run in result.runs.items():
        saved = data["variants"][name]
        assert saved["diverged"] == run.diverged and saved["diverged_at_step"] == run.diverged_at
        for key in ("losses", "grad_norms", "clipped_norms"):
            assert saved[key] == [v if math.isfinite(v) else None for v in getattr(run, key)]
    assert data["variants"]["none"]["losses"][-1] is None or data["variants"]["none"]["grad_norms"][-1] is None
    assert data["variants"]["norm"]["final_loss"] == result.runs["norm"].final_loss()


@pytest.mark.parametrize("flags, message", [
    (["--cell", "nope"], "unknown cell"),
    (["--scale", "0"], "--scale 0.0: must be positive"),
    (["--steps", "0"], "--steps 0: must be positive"),
    (["--clip-norm", "-1"], "--clip-norm -1.0: must be positive"),
    (["--clip-value", "0"], "--clip-value"),
    (["--length", "0"], "--length"),
])
def test_bad_flags_are_user_errors(tmp_path, flags, message):
    with pytest.raises(RnnkitError, match=message):
        _cli("clipping", *flags, "--out", str(tmp_path))
