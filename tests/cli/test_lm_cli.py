import json
import math

import pytest

from tests.cli.conftest import SMALL


def _train(rnnkit, corpus, out, tmp_path, *extra):
    return rnnkit("lm", "train", "--data", corpus, "--out", out, "--cache-dir", tmp_path / "cache", *SMALL, *extra)


def _losses(run):
    return [(r["step"], r["loss"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "loss" in r]


def test_train_sample_score_eval_end_to_end(rnnkit, corpus, tmp_path):
    run = tmp_path / "run"
    code, out, err = _train(rnnkit, corpus, run, tmp_path, "--steps", "40", "--lr", "2e-2", "--warmup", "0")
    assert code == 0, err
    for name in ("config.json", "vocab.json", "model.safetensors", "optimizer.safetensors", "state.json",
                 "metrics.jsonl", "loss.png", "best/model.safetensors"):
        assert (run / name).is_file(), name
    losses = _losses(run)
    assert len(losses) == 40 and losses[-1][1] < losses[0][1] - 0.5  # it learns

    code, out, err = rnnkit("lm", "sample", run, "--prime", "the ", "--length", "30", "--seed", "3")
    assert code == 0, err
    assert out.startswith("the ") and len(out.rstrip("\n")) == 34
    code2, out2, _ = rnnkit("lm", "sample", run, "--prime", "the ", "--length", "30", "--seed", "3")
    assert out2 == out

    code, out, err = rnnkit("lm", "score", run, "the lazy dog", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["tokens"] == len("the lazy dog")
    assert math.isclose(result["perplexity"], math.exp(-result["log_prob"] / result["tokens"]), rel_tol=1e-9)
    assert math.isclose(sum(math.log(t["prob"]) for t in result["token_probs"]), result["log_prob"], rel_tol=1e-6)

    code, out, err = rnnkit("lm", "eval", run, "--data", corpus, "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert math.isclose(result["bits_per_char"], result["loss"] / math.log(2), rel_tol=1e-9)  # char level
    assert result["loss"] < math.log(len(set(corpus.read_text())))  # better than uniform


def test_resume_after_interruption_gives_identical_losses(rnnkit, corpus, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    # the schedule is constant: a cosine one depends on --steps, which differs between the two runs here
    args = ("--dropout", "0.2", "--seed", "5", "--lr", "5e-3", "--schedule", "constant")
    assert _train(rnnkit, corpus, full, tmp_path, "--steps", "30", *args)[0] == 0
    assert _train(rnnkit, corpus, part, tmp_path, "--steps", "15", *args)[0] == 0
    code, out, err = rnnkit("lm", "train", "--resume", part, "--steps", "30", "--quiet",
                            "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    assert _losses(part) == _losses(full)


def test_same_seed_same_run(rnnkit, corpus, tmp_path):
    for name in ("a", "b"):
        assert _train(rnnkit, corpus, tmp_path / name, tmp_path, "--steps", "8", "--seed", "9")[0] == 0
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")


def test_word_level_with_sentence_ends(rnnkit, corpus, tmp_path):
    run = tmp_path / "words"
    code, _, err = _train(rnnkit, corpus, run, tmp_path, "--steps", "10", "--level", "word", "--eos", "line")
    assert code == 0, err
    vocab = json.loads((run / "vocab.json").read_text())
    assert "<EOS>" in vocab["tokens"] and "fox" in vocab["tokens"] and "." in vocab["tokens"]
    code, out, err = rnnkit("lm", "score", run, "the zebra jumps .", "--json")
    assert code == 0, err  # unknown words are scored as <UNK>
    assert json.loads(out.strip().splitlines()[-1])["tokens"] == 5  # 4 words + <EOS>
    code, out, err = rnnkit("lm", "sample", run, "--length", "20", "--seed", "1")
    assert code == 0, err


@pytest.mark.parametrize("argv, message", [
    (["lm", "sample", "{run}", "--prime", "€"], "not in the vocabulary"),
    (["lm", "sample", "{run}", "--temperature", "-1"], "temperature"),
    (["lm", "sample", "{run}", "--top-p", "1.5"], "top-p"),
    (["lm", "sample", "{run}", "--top-k", "0"], "top-k"),
    (["lm", "sample", "{tmp}/missing"], "no such run directory"),
    (["lm", "train", "--data", "{tmp}/missing.txt", "--out", "{tmp}/x"], "missing.txt"),
    (["lm", "train", "--data", "{tmp}/binary.bin", "--out", "{tmp}/y"], "binary.bin"),
    (["lm", "train", "--data", "{corpus}", "--hidden", "0"], "hidden"),
    (["lm", "train", "--data", "{corpus}", "--beta2", "1"], "beta2"),
    (["lm", "train", "--data", "{corpus}", "--out", "{run}"], "already exists"),
    (["lm", "eval", "{run}", "--data", "{tmp}/missing.txt"], "missing.txt"),
])
def test_bad_input_exits_2_with_a_message(rnnkit, corpus, tmp_path, argv, message):
    run = tmp_path / "run"
    assert _train(rnnkit, corpus, run, tmp_path, "--steps", "2")[0] == 0
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01\x02\xff" * 100)
    argv = [a.format(run=run, tmp=tmp_path, corpus=corpus) for a in argv]
    code, out, err = rnnkit(*argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_tampered_checkpoint_is_a_clear_error(rnnkit, corpus, tmp_path):
    run = tmp_path / "run"
    assert _train(rnnkit, corpus, run, tmp_path, "--steps", "2")[0] == 0
    data = (run / "best" / "model.safetensors").read_bytes()
    (run / "best" / "model.safetensors").write_bytes(data[: len(data) // 2])
    code, _, err = rnnkit("lm", "sample", run)
    assert code == 2 and "corrupt" in err
    config = json.loads((run / "config.json").read_text())
    config["format_version"] = 99
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = rnnkit("lm", "sample", run, "--checkpoint", "latest")
    assert code == 2 and "newer" in err


def test_sample_num_draws_a_seeded_batch(rnnkit, corpus, tmp_path):
    """--num N: N samples (one batch), the same under a seed, not N copies of one; int8 weights run too."""
    run = tmp_path / "run"
    assert _train(rnnkit, corpus, run, tmp_path, "--steps", "20", "--lr", "2e-2", "--warmup", "0")[0] == 0
    argv = ("lm", "sample", run, "--prime", "the ", "--length", "40", "--num", "4", "--seed", "2", "--no-stop")
    code, out, err = rnnkit(*argv)
    assert code == 0, err
    samples = _split_samples(out, 44)
    assert len(samples) == 4 and all(s.startswith("the ") for s in samples)
    assert len(set(samples)) > 1
    assert rnnkit(*argv)[1] == out
    code, out_w, err = rnnkit(*argv, "--weights", "int8")              # bf16 runs in the eval test below
    assert code == 0, err
    assert len(_split_samples(out_w, 44)) == 4


def _split_samples(out: str, length: int) -> list[str]:
    """Samples of ``length`` characters each, printed one per line, a blank line after one holding a newline."""
    samples = []
    while out:
        sample, out = out[:length], out[length:]
        assert out.startswith("\n"), (sample, out)
        out = out[1:]
        if "\n" in sample and out:
            assert out.startswith("\n")
            out = out[1:]
        samples.append(sample)
    return samples


def test_eval_with_reduced_weights_reports_the_change_in_loss(rnnkit, corpus, tmp_path):
    run = tmp_path / "run"
    assert _train(rnnkit, corpus, run, tmp_path, "--steps", "10")[0] == 0
    code, out, err = rnnkit("lm", "eval", run, "--data", corpus, "--weights", "bf16", "--json")
    assert code == 0, err
    assert "stepping from bf16 weights" in out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["weights"] == "bf16"
    assert math.isclose(result["loss_change"], result["stepped_loss"] - result["stepped_loss_float32"], abs_tol=1e-12)
    assert abs(result["loss_change"]) < 0.05
    assert abs(result["stepped_loss_float32"] - result["loss"]) < 0.1       # the same model, read in pieces


def test_reduced_weights_on_a_gru_run_exit_2(rnnkit, corpus, tmp_path):
    run = tmp_path / "gru"
    assert _train(rnnkit, corpus, run, tmp_path, "--steps", "2", "--cell", "gru")[0] == 0
    code, _, err = rnnkit("lm", "sample", run, "--weights", "bf16", "--length", "5")
    assert code == 2 and "LSTM and RNN cells" in err and "Traceback" not in err
