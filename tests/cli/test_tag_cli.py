"""``rnnkit tag train | eval | predict`` end to end on tiny data, and its clear errors on bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

SMALL = ["--hidden", "16", "--embedding", "8", "--char-embedding", "4", "--char-hidden", "4", "--batch-size", "8",
         "--log-every", "1", "--quiet", "--seed", "3", "--lr", "2e-2", "--warmup", "0", "--dropout", "0.1"]
FILLER = ["the", "a", "saw", "went", "to", "today", "and", "we", "met", "big"]
NAMES, CITIES = ["ann", "bob", "cho", "dee", "eve", "fay"], ["paris", "oslo", "lima", "rome"]


def _sentences(n: int, seed: int):
    """'mr X Y' is a person (two tokens), a city a location; written in IOB1 as CoNLL-2003 is."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [[w, "O"] for w in rng.choice(FILLER, size=int(rng.integers(2, 6)))]
        at = int(rng.integers(0, len(words) + 1))
        words[at:at] = [["mr", "O"], [str(rng.choice(NAMES)).title(), "I-PER"], [str(rng.choice(NAMES)), "I-PER"]]
        if rng.random() < 0.7:
            words.insert(int(rng.integers(0, len(words) + 1)), [str(rng.choice(CITIES)).title(), "I-LOC"])
        out.append(words)
    return out


def _conll(path, sentences):
    path.write_text("-DOCSTART- O\n\n" + "".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sentences),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from rnnkit.cli.main import main

    tmp = tmp_path_factory.mktemp("tag")
    train, valid = _conll(tmp / "train.conll", _sentences(96, 0)), _conll(tmp / "valid.conll", _sentences(32, 1))
    run = tmp / "run"
    assert main([str(a) for a in ["tag", "train", "--data", train, "--valid", valid, "--out", run, "--epochs",
                                  "8", *SMALL]]) == 0
    return run, train, valid


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_trains_evaluates_and_predicts(rnnkit, trained, tmp_path, monkeypatch):
    run, train, valid = trained
    for name in ("config.json", "vocab.json", "chars.json", "model.safetensors", "state.json", "metrics.jsonl",
                 "loss.png", "best/model.safetensors"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "tag" and config["data"]["scheme"] == "iob1"          # detected
    assert config["model"]["scheme"] == "bioes" and "S-LOC" in config["model"]["tag_names"]
    f1 = [r["valid_f1"] for r in _records(run) if "valid_f1" in r]
    assert max(f1) >= 0.9

    code, out, err = rnnkit("tag", "eval", run, "--data", valid, "--json", "--output", tmp_path / "pred.txt")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert {"precision", "recall", "f1", "token_accuracy"} <= set(result)
    assert result["f1"] == pytest.approx(max(f1)) and "PER" in out and "LOC" in out
    # the predictions, written in the input's scheme (IOB1), score the same with the reference counter
    from seqeval.metrics import f1_score

    rows = [line.split() for line in (tmp_path / "pred.txt").read_text().split("\n\n") if line.strip()]
    blocks = [[r.split() for r in b.splitlines()] for b in (tmp_path / "pred.txt").read_text().strip().split("\n\n")]
    assert rows and all(t[2][0] in "IBO" and not t[2].startswith(("E-", "S-")) for b in blocks for t in b)
    true = [[t[1] for t in b] for b in blocks]
    pred = [[t[2] for t in b] for b in blocks]
    assert f1_score(true, pred) == pytest.approx(result["f1"])

    monkeypatch.setattr("sys.stdin", io.StringIO("we met mr Ann bob in Paris\n\nthe big rome\n"))
    code, out, err = rnnkit("tag", "predict", run)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and lines[0]["tokens"][3] == "Ann"
    assert {"type": "PER", "start": 3, "end": 5, "text": "Ann bob"} in lines[0]["entities"]
    assert lines[0]["tags"][3:5] == ["I-PER", "I-PER"]                             # IOB1, as the input
    code, out, err = rnnkit("tag", "predict", run, valid)                          # CoNLL input
    assert code == 0, err
    assert len(out.splitlines()) == 32


def test_softmax_decoder_and_plain_tags(rnnkit, tmp_path):
    rng = np.random.default_rng(5)
    sents = [[[w, "N" if w in NAMES else "V"] for w in rng.choice(NAMES + FILLER, size=5)] for _ in range(64)]
    train = _conll(tmp_path / "pos.conll", sents)
    run = tmp_path / "run"
    code, out, err = rnnkit("tag", "train", "--data", train, "--out", run, "--decoder", "softmax", "--epochs", "6",
                            "--no-chars", *SMALL[:2], *SMALL[8:])
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["scheme"] == "none" and config["model"]["tag_names"] == ["N", "V"]
    code, out, err = rnnkit("tag", "eval", run, "--data", train, "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["token_accuracy"] > 0.9


@pytest.mark.parametrize("text,flags,message", [
    ("EU B-ORG\nrejects E-ORG\n", ["--scheme", "iob2"], r"train.conll:2: the tag 'E-ORG' is not valid in IOB2"),
    ("EU B-ORG\nrejects NN\n", [], "some tags have a B-/I- prefix and others are plain"),
    ("EU B-ORG\nrejects X O\n", [], r"train.conll:2: 3 column\(s\), but line 1 has 2"),
    ("\n\n", [], "the file is empty|no sentence"),
])
def test_bad_training_data_exits_2_and_writes_nothing(rnnkit, tmp_path, text, flags, message):
    import re

    path = tmp_path / "train.conll"
    path.write_text(text, encoding="utf-8")
    code, out, err = rnnkit("tag", "train", "--data", path, "--out", tmp_path / "run", *flags, *SMALL)
    assert code == 2 and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_eval_of_a_file_with_an_invalid_tag_names_its_line(rnnkit, trained, tmp_path):
    run, _, _ = trained
    bad = tmp_path / "bad.conll"
    bad.write_text("Ann I-PER\nsings O\n\nBob S-PER\n", encoding="utf-8")
    code, out, err = rnnkit("tag", "eval", run, "--data", bad)
    assert code == 2 and "bad.conll:4: the tag 'S-PER' is not valid in IOB1" in err


def test_default_epochs_follow_the_token_budget():
    from rnnkit.tasks.tag import default_epochs

    assert default_epochs(204_567) == 15 and default_epochs(56_000) == 30 and default_epochs(10**7) == 10


def test_embeddings_file_initialises_the_word_vectors(rnnkit, tmp_path):
    from safetensors.torch import load_file

    train = _conll(tmp_path / "train.conll", _sentences(24, 2))
    vectors = tmp_path / "vec.txt"
    vectors.write_text("2 8\nmr " + " ".join(["0.5"] * 8) + "\nzzz " + " ".join(["1"] * 8) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    code, out, err = rnnkit("tag", "train", "--data", train, "--out", run, *SMALL, "--embeddings", vectors,
                            "--steps", "1", "--lr", "1e-9")
    assert code == 0, err
    vocab = json.loads((run / "vocab.json").read_text())["tokens"]
    weight = load_file(run / "model.safetensors")["embedding.weight"]
    assert np.allclose(weight[vocab.index("mr")].numpy(), 0.5, atol=1e-6)
    code, out, err = rnnkit("tag", "train", "--data", train, "--out", tmp_path / "r2", "--embeddings", vectors,
                            "--embedding", "4", "--steps", "1")
    assert code == 2 and "give --embedding 8" in err


def test_a_sentence_of_5000_tokens_is_tagged(rnnkit, trained, monkeypatch):
    run, _, _ = trained
    monkeypatch.setattr("sys.stdin", io.StringIO(" ".join(["we", "met", "mr", "Ann", "bob"] * 1000) + "\n"))
    code, out, err = rnnkit("tag", "predict", run, "-")
    assert code == 0, err
    row = json.loads(out)
    assert len(row["tags"]) == 5000 and len(row["entities"]) >= 900


def test_feature_vectors_per_step(rnnkit, tmp_path):
    rng = np.random.default_rng(4)
    lengths = rng.integers(3, 12, size=64)
    x = rng.normal(size=(int(lengths.sum()), 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)                          # the step's label: the sign of feature 1
    np.savez(tmp_path / "steps.npz", x=x, lengths=lengths, y=y, label_names=np.array(["low", "high"]))
    run = tmp_path / "run"
    code, out, err = rnnkit("tag", "train", "--data", tmp_path / "steps.npz", "--out", run, "--epochs", "10",
                            "--decoder", "softmax", *SMALL[:2], *SMALL[8:])
    assert code == 0, err
    code, out, err = rnnkit("tag", "eval", run, "--data", tmp_path / "steps.npz", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["token_accuracy"] > 0.9
    code, out, err = rnnkit("tag", "predict", run, tmp_path / "steps.npz")
    assert code == 0 and len(out.splitlines()) == 64 and set(json.loads(out.splitlines()[0])) == {"tags"}
