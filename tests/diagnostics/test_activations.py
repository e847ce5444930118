import argparse
import json
import re
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rnnkit.cli.diagnose_inside import register
from rnnkit.cli.lm_use import load_lm
from rnnkit.diagnostics.activations import (
    char_signal,
    check_pattern,
    correlations,
    pattern_signal,
    rank_units,
    top_variance_units,
)
from rnnkit.errors import RnnkitError
from rnnkit.models import LanguageModel
from tests.cli.conftest import SMALL

CORPUS = "".join(f'f(x[{i}]) = "say {w}" (a (b {i}) c) see http://x.org </script>\n'
                 for i, w in zip(range(40), ["yes", "no", "maybe", "so"] * 10))
TEXT = 'f(x[3]) = "say no" (a (b (c [a])) e) see http://x.org </script>\ng("yes") (b 7)\n'


def _cli(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args([str(a) for a in argv])
    return args.handler(args)


def _copy_run(run, dst, model: LanguageModel | None = None, **config_changes):
    """A copy of RUN's config (top-level keys changed by ``config_changes``, ``model=`` a dict changes the model
    entry) and vocabulary, with ``model``'s weights (default: RUN's own)."""
    dst.mkdir()
    config = json.loads((run / "config.json").read_text())
    config["model"].update(config_changes.pop("model_config", {}))
    config.update(config_changes)
    (dst / "config.json").write_text(json.dumps(config))
    shutil.copy(run / "vocab.json", dst / "vocab.json")
    if model is None:
        torch.manual_seed(0)
        model = LanguageModel.from_config(config["model"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(dst / "model.safetensors"))
    return dst


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A tiny LSTM language model trained by the real 'rnnkit lm train', and a text to read."""
    from rnnkit.cli.main import main

    tmp = tmp_path_factory.mktemp("activations")
    corpus = tmp / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    argv = ["lm", "train", "--data", corpus, "--out", tmp / "run", "--cache-dir", tmp / "cache", *SMALL,
            "--steps", "4", "--seed", "2"]
    assert main([str(a) for a in argv]) == 0
    text = tmp / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    return tmp / "run", text


def _page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


# --- patterns and correlations, by hand ----------------------------------------------------------------------

@pytest.mark.parametrize("pattern, text, want", [
    ("quotes", 'a"bc"d"e', [0, 1, 1, 1, 0, 0, 1, 1]),
    ("line-position", "ab\ncde\n\nf", [1, 2, 0, 1, 2, 3, 0, 0, 1]),
    ("bracket-depth", "(a[b]){c})", [1, 1, 2, 2, 1, 0, 1, 1, 0, 0]),
    ("regex:[0-9]+", "a12b3", [0, 1, 1, 0, 1]),
    ("regex:x*", "axxb", [0, 1, 1, 0]),           # empty matches cover no character
])
def test_char_signal(pattern, text, want):
    assert char_signal(text, pattern).tolist() == want


def test_pattern_signal_averages_over_the_characters_of_a_token():
    # word-level pieces: "(" ends at depth 1, " deep" is at depth 1 throughout, ")" closes, " x" is outside
    signal = pattern_signal(["(", " deep", ")", " x"], "bracket-depth")
    assert signal.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert pattern_signal(["ab", "c\nd"], "line-position").tolist() == [1.5, (3 + 0 + 1) / 3]


def test_correlations_and_ranking_match_numpy():
    signal = torch.tensor([0.0, 1, 2, 3, 2, 1, 0, 1], dtype=torch.float64)
    noise = torch.tensor([0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.0, -0.1], dtype=torch.float64)
    values = torch.stack([noise, 2 * signal + 1, -0.5 * signal + 0.1 * noise, torch.full((8,), 0.7)], dim=1)
    r = correlations(values, signal)
    for k in range(3):
        assert r[k].item() == pytest.approx(np.corrcoef(values[:, k].numpy(), signal.numpy())[0, 1], abs=1e-12)
    assert r[1].item() == pytest.approx(1.0) and r[2].item() < -0.95 and r[3].item() == 0.0  # constant unit: 0
    assert rank_units(r) == [1, 2, 0, 3]
    assert top_variance_units(values, 2) == [1, 2]


def test_a_constant_pattern_and_bad_patterns_are_refused():
    with pytest.raises(ValueError, match="same on every token"):
        correlations(torch.randn(5, 3), torch.ones(5))
    with pytest.raises(ValueError, match="not a valid regular expression"):
        check_pattern("regex:[")
    with pytest.raises(ValueError, match="unknown pattern"):
        check_pattern("depth")
    with pytest.raises(ValueError, match="needs an expression"):
        check_pattern("regex:")


# --- the command ---------------------------------------------------------------------------------------------

def test_a_unit_built_to_count_brackets_ranks_first(lm_run, tmp_path, capsys):
    run, text = lm_run
    model, vocab, _ = load_lm(str(run))
    H = model.config.hidden_size
    with torch.no_grad():                    # unit 5 adds 0.1 per opening bracket and takes 0.1 per closing one
        E, cell, k = model.embedding.weight, model.rnn.cells[0], 5
        E[:, 0] = 0.0
        for ch, sign in (("(", 1.0), ("[", 1.0), (")", -1.0), ("]", -1.0)):
            E[vocab.stoi[ch], 0] = sign                           # x<t>_0 = +1 opening, −1 closing, else 0
        cell.W_c[k] = 0.0
        cell.W_c[k, H + 0] = 0.1                                  # c̃ = tanh(0.1 x<t>_0)
        cell.b_c[k] = 0.0
        for g in ("u", "f", "o"):                                 # Γu = Γf = Γo ≈ 1: c<t> = c̃ + c<t-1>
            getattr(cell, f"W_{g}")[k] = 0.0
            getattr(cell, f"b_{g}")[k] = 30.0
    counter = _copy_run(run, tmp_path / "counter", model)
    out = tmp_path / "out"
    assert _cli("activations", counter, "--text", text, "--find", "bracket-depth", "--top", 3, "--out", out) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^\s+1\s+5\s+(0\.99\d|1\.000)$", printed, re.M), printed   # rank 1: unit 5, r ≈ 1
    data = json.loads((out / "activations.json").read_text())
    assert data["ranking"][0]["unit"] == k and data["ranking"][0]["r"] > 0.99
    assert [u["unit"] for u in data["units"]] == [e["unit"] for e in data["ranking"][:3]]
    assert len(data["ranking"]) == H and abs(data["ranking"][1]["r"]) < data["ranking"][0]["r"]
    depth = char_signal(TEXT, "bracket-depth")
    np.testing.assert_allclose(data["units"][0]["values"], np.tanh(0.0997 * depth.numpy()), atol=2e-3)
    assert _page_data((out / "activations.html").read_text())["ranking"] == data["ranking"]


def test_the_page_is_standalone_and_shows_the_models_activations(lm_run, tmp_path):
    run, text = lm_run
    out = tmp_path / "out"
    assert _cli("activations", run, "--text", text, "--unit", "0,3,7", "--out", out) == 0
    html = (out / "activations.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "http://" not in html and "https://" not in html                  # the text has a URL in it
    assert " src=" not in html and "<link" not in html and "@import" not in html
    assert html.count("</script>") == 2                                      # the text's "</script>" is escaped
    data = _page_data(html)
    assert "".join(data["tokens"]) == TEXT
    assert [u["unit"] for u in data["units"]] == [0, 3, 7] and data["ranking"] is None

    # a<t> straight from the model's own forward (the fast engine), after the start token "\n"
    model, vocab, _ = load_lm(str(run))
    ids = torch.tensor([vocab.stoi["\n"]] + vocab.encode(list(TEXT)))
    with torch.no_grad():
        a = model.rnn(model.embed(ids).unsqueeze(0))[0][0, 1:]               # (T, H)
    for u in data["units"]:
        np.testing.assert_allclose(u["values"], a[:, u["unit"]].numpy(), atol=1e-4)
        assert u["variance"] == pytest.approx(float(a[:, u["unit"]].var(unbiased=False)), abs=1e-5)
    assert json.loads((out / "activations.json").read_text())["units"] == data["units"]


def test_top_by_variance_and_the_memory_cell(lm_run, tmp_path):
    run, text = lm_run
    out = tmp_path / "out"
    assert _cli("activations", run, "--text", text, "--top", 4, "--state", "c", "--out", out) == 0
    data = json.loads((out / "activations.json").read_text())
    # c<t> straight from the model's own forward: the final state after each prefix of the text
    model, vocab, _ = load_lm(str(run))
    ids = torch.tensor([vocab.stoi["\n"]] + vocab.encode(list(TEXT)))
    with torch.no_grad():
        x = model.embed(ids).unsqueeze(0)
        c = torch.stack([model.rnn(x[:, :t + 1])[1][1][0, 0] for t in range(1, len(ids))])    # (T, H)
    want = torch.tanh(c)
    assert [u["unit"] for u in data["units"]] == top_variance_units(want, 4)
    for u in data["units"]:
        np.testing.assert_allclose(u["values"], want[:, u["unit"]].numpy(), atol=1e-4)
    assert data["state_label"] == "tanh(c<t>)"


@pytest.mark.parametrize("argv, message", [
    (["--unit", "16"], r"--unit 16 is out of range: layer 1 has 16 units \(0 … 15\)"),
    (["--unit", "0", "--layer", "2"], r"--layer 2 is out of range: .* has 1 layer \(1 … 1\)"),
    (["--top", "2", "--find", "regex:("], "not a valid regular expression"),
    (["--top", "2", "--find", "brackets"], "unknown pattern"),
    (["--top", "2", "--find", "regex:€"], "same value on all"),
])
def test_activations_errors(lm_run, tmp_path, argv, message):
    run, text = lm_run
    with pytest.raises(RnnkitError, match=message):
        _cli("activations", run, "--text", text, "--out", tmp_path / "o", *argv)
    assert not (tmp_path / "o").exists()


def test_activations_errors_about_the_run_and_the_text(lm_run, tmp_path):
    run, text = lm_run
    gru = _copy_run(run, tmp_path / "gru", model_config={"cell": "gru"})
    with pytest.raises(RnnkitError, match="--state c: the gru cell .* keeps no memory cell"):
        _cli("activations", gru, "--text", text, "--unit", "1", "--state", "c", "--out", tmp_path / "o")
    assert _cli("activations", gru, "--text", text, "--unit", "1", "--out", tmp_path / "o") == 0   # a<t> is fine
    other = _copy_run(run, tmp_path / "classifier", task="classify")
    with pytest.raises(RnnkitError, match="trained by 'rnnkit classify train', not 'rnnkit lm train'"):
        _cli("activations", other, "--text", text, "--unit", "1", "--out", tmp_path / "o")
    with pytest.raises(RnnkitError, match="no such file"):
        _cli("activations", run, "--text", tmp_path / "nope.txt", "--unit", "1", "--out", tmp_path / "o")
    with pytest.raises(SystemExit):                                          # --unit and --top exclude each other
        _cli("activations", run, "--text", text, "--unit", "1", "--top", "2", "--out", tmp_path / "o")
    with pytest.raises(SystemExit):
        _cli("activations", run, "--text", text, "--unit", "-1", "--out", tmp_path / "o")
