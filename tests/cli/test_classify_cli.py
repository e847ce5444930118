"""``rnnkit classify train | eval | predict`` end to end on tiny data, and its clear errors on bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

SMALL = ["--hidden", "16", "--embedding", "8", "--batch-size", "8", "--log-every", "1", "--quiet", "--seed", "3",
         "--lr", "1e-2", "--warmup", "0"]
WORDS = ["good", "bad", "fine", "the", "a", "movie", "film", "plot", "very", "not"]


def _text_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Class 'pos' if the sentence holds 'good', 'neg' if it holds 'bad' (never both): learnable in a few steps."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(WORDS[2:], size=rng.integers(2, 9)))
        words.insert(int(rng.integers(0, len(words) + 1)), "good" if label == "pos" else "bad")
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture
def text_data(tmp_path):
    def write(name, n, seed):
        path = tmp_path / name
        path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in _text_rows(n, seed)), encoding="utf-8")
        return path
    return write("train.tsv", 96, 0), write("valid.tsv", 32, 1)


def _npz(path, n: int, seed: int, names=("down", "up")):
    """Two classes of 3-feature sequences: the first feature drifts up or down."""
    rng = np.random.default_rng(seed)
    xs, lengths, ys = [], [], []
    for i in range(n):
        T, y = int(rng.integers(3, 12)), i % 2
        x = rng.normal(size=(T, 3)).astype(np.float32)
        x[:, 0] += np.linspace(0, 3 if y else -3, T)
        xs.append(x)
        lengths.append(T)
        ys.append(y)
    np.savez(path, x=np.concatenate(xs), lengths=np.array(lengths), y=np.array(ys), label_names=np.array(names))
    return path


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_text_classifier_trains_evaluates_and_predicts(rnnkit, text_data, tmp_path, monkeypatch):
    train, valid = text_data
    run = tmp_path / "run"
    code, out, err = rnnkit("classify", "train", "--data", train, "--valid", valid, "--out", run, "--epochs", "6",
                            *SMALL)
    assert code == 0, err
    assert out.strip() == str(run)
    for name in ("config.json", "vocab.json", "model.safetensors", "optimizer.safetensors", "state.json",
                 "metrics.jsonl", "loss.png", "best/model.safetensors", "confusion.png"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "classify" and config["data"]["label_names"] == ["neg", "pos"]
    assert config["train"]["steps"] == 6 * 12                      # --epochs 6 of 96 / 8 batches
    valid_acc = [r["valid_accuracy"] for r in _records(run) if "valid_accuracy" in r]
    # once an epoch (12 steps) but at most every 20 steps, and at the end; and it learns
    assert [r["step"] for r in _records(run) if "valid_accuracy" in r] == [20, 40, 60, 72]
    assert max(valid_acc) >= 0.9

    code, out, err = rnnkit("classify", "eval", run, "--data", valid, "--json", "--confusion-png",
                            tmp_path / "c.png")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["accuracy"] >= 0.9 and 0 <= result["macro_f1"] <= 1 and result["examples"] == 32
    assert "neg" in out and "pos" in out and (tmp_path / "c.png").is_file()
    assert result["accuracy"] == pytest.approx(max(valid_acc))     # the best checkpoint is what eval uses

    code, out, err = rnnkit("classify", "predict", run, valid)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 32
    assert set(lines[0]) == {"label", "probabilities"} and set(lines[0]["probabilities"]) == {"neg", "pos"}
    assert abs(sum(lines[0]["probabilities"].values()) - 1) < 1e-4
    truth = [y for _, y in _text_rows(32, 1)]
    assert np.mean([p["label"] == y for p, y in zip(lines, truth)]) == pytest.approx(result["accuracy"])

    monkeypatch.setattr("sys.stdin", io.StringIO("a very good film\n\nthe plot was bad\n"))
    code, out, err = rnnkit("classify", "predict", run, "-")
    assert code == 0, err
    assert [json.loads(line)["label"] for line in out.splitlines()] == ["pos", "neg"]


def test_feature_classifier_standardises_with_training_statistics(rnnkit, tmp_path):
    train, test = _npz(tmp_path / "train.npz", 64, 0), _npz(tmp_path / "test.npz", 32, 1)
    run = tmp_path / "run"
    code, out, err = rnnkit("classify", "train", "--data", train, "--out", run, "--epochs", "8", "--layers", "1",
                            *SMALL[:2], *SMALL[4:])                  # no --embedding for feature vectors
    assert code == 0, err
    from safetensors.torch import load_file

    weights = load_file(run / "best" / "model.safetensors")
    x = np.load(train)["x"]
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["label_names"] == ["down", "up"] and config["data"]["kind"] == "features"
    # mean of the raw features over the training part (the validation tenth is held out): close to all of it
    assert np.allclose(weights["features.mean"][:3].numpy(), x.mean(0), atol=0.25)
    code, out, err = rnnkit("classify", "eval", run, "--data", test, "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["accuracy"] >= 0.85


def test_resume_continues_exactly(rnnkit, text_data, tmp_path):
    train, valid = text_data
    whole, part = tmp_path / "whole", tmp_path / "part"
    # a schedule that does not depend on --steps, so that stopping at 15 and going on to 30 is one 30-step run
    args = ["--data", train, "--valid", valid, *SMALL, "--save-every", "5", "--eval-every", "5", "--dropout", "0.2",
            "--schedule", "step", "--lr-step-size", "7"]
    assert rnnkit("classify", "train", *args, "--out", whole, "--steps", "30")[0] == 0
    assert rnnkit("classify", "train", *args, "--out", part, "--steps", "15")[0] == 0
    code, _, err = rnnkit("classify", "train", "--resume", part, "--steps", "30", "--quiet")
    assert code == 0, err
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("time", "examples_per_s")} for r in rs]
    assert strip(_records(part)) == strip(_records(whole))


def test_multi_label(rnnkit, tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(120):
        words = list(rng.choice(["x", "y", "z", "w"], size=rng.integers(2, 7)))
        labels = sorted({w for w in words if w in ("x", "y")}) or ["none"]
        rows.append({"text": " ".join(words), "label": labels})
    data = tmp_path / "ml.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = tmp_path / "run"
    code, _, err = rnnkit("classify", "train", "--data", data, "--multi-label", "--out", run, "--epochs", "10",
                          *SMALL)
    assert code == 0, err
    code, out, err = rnnkit("classify", "eval", run, "--data", data, "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["macro_f1"] > 0.8
    code, out, _ = rnnkit("classify", "predict", run, data)
    first = json.loads(out.splitlines()[0])
    assert isinstance(first["label"], list) and set(first["probabilities"]) == {"none", "x", "y"}


def _one_line_error(code, err, *needles):
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_bad_input_is_a_clear_error_and_leaves_no_run(rnnkit, tmp_path, text_data):
    train, valid = text_data
    cases = []
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    cases.append((["--data", empty], ["empty.tsv"]))
    cases.append((["--data", train, "--label-column", "stars"], ["stars"]))
    one = tmp_path / "one.tsv"
    one.write_text("text\tlabel\na b\tx\nc d\tx\ne f\tx\n", encoding="utf-8")
    cases.append((["--data", one, "--valid", one], ["two classes"]))
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=np.array([[0.0], [np.nan]]), lengths=np.array([1, 1]), y=np.array([0, 1]))
    cases.append((["--data", nan], ["nan.npz", "NaN"]))
    missing = tmp_path / "missing.npz"
    np.savez(missing, x=np.zeros((2, 1)), y=np.array([0, 1]))
    cases.append((["--data", missing], ["lengths"]))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.zeros((2, 1)), lengths=np.array([1, 1]), y=np.array([0, 1]),
             label_names=np.array(["a", {"b": 1}], dtype=object))
    cases.append((["--data", pickled], ["pickled.npz"]))
    fasta = tmp_path / "seq.fasta"
    fasta.write_text(">s1 EI\nACGT\n>s2\nACGA\n", encoding="utf-8")
    cases.append((["--data", fasta], ["seq.fasta"]))
    zero = tmp_path / "zero.npz"
    np.savez(zero, x=np.zeros((2, 1)), lengths=np.array([2, 0]), y=np.array([0, 1]))
    cases.append((["--data", zero], ["zero.npz"]))
    for k, (argv, needles) in enumerate(cases):
        out = tmp_path / f"run{k}"
        code, _, err = rnnkit("classify", "train", *argv, "--out", out, *SMALL, "--steps", "2")
        _one_line_error(code, err, *needles)
        assert not out.exists(), argv


def test_eval_refuses_labels_the_model_never_saw(rnnkit, text_data, tmp_path):
    train, valid = text_data
    run = tmp_path / "run"
    assert rnnkit("classify", "train", "--data", train, "--out", run, *SMALL, "--steps", "2")[0] == 0
    other = tmp_path / "other.tsv"
    other.write_text("text\tlabel\ngood film\tpos\nso so\tmeh\n", encoding="utf-8")
    code, _, err = rnnkit("classify", "eval", run, "--data", other)
    _one_line_error(code, err, "other.tsv:3", "'meh'", "never seen")
    code, _, err = rnnkit("classify", "eval", tmp_path / "nope", "--data", other)
    _one_line_error(code, err, "no such run")


def test_defaults_follow_the_documented_rule(rnnkit, tmp_path):
    """Equal-length bases: attention pooling and a vector per position; a small feature set: the small model."""
    rng = np.random.default_rng(0)
    bases = tmp_path / "bases.csv"
    bases.write_text("label,sequence\n" + "".join(f"{'ab'[i % 2]},{''.join(rng.choice(list('ACGT'), 12))}\n"
                                                 for i in range(40)), encoding="utf-8")
    run = tmp_path / "bases"
    assert rnnkit("classify", "train", "--data", bases, "--text-column", "sequence", "--label-column", "label",
                  "--level", "char", "--out", run, "--steps", "2", "--quiet")[0] == 0
    data = json.loads((run / "config.json").read_text())["data"]
    assert (data["pooling"], data["positions"], data["embedding"]) == ("attention", 12, 32)
    run = tmp_path / "features"
    assert rnnkit("classify", "train", "--data", _npz(tmp_path / "f.npz", 40, 0), "--out", run, "--steps", "2",
                  "--quiet")[0] == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["data"]["hidden"], config["data"]["layers"], config["data"]["pooling"]) == (64, 1, "max")
    assert config["train"]["patience"] is None and config["model"]["deltas"] is True
    assert (config["model"]["time_warp"], config["model"]["scale_jitter"]) == (0.1, 0.3)
