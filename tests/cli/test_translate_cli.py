"""``rnnkit translate train | eval | predict`` end to end on tiny data, and its clear errors on bad input."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

SMALL = ["--hidden", "32", "--embedding", "16", "--batch-size", "16", "--log-every", "1", "--quiet", "--seed", "3",
         "--lr", "1e-2", "--warmup", "0", "--dropout", "0.0", "--label-smoothing", "0"]
WORDS = ["red", "blue", "green", "cat", "dog", "sun", "moon", "tree"]


def _pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Source: a few words; target: the same words reversed, in capitals, ending with '!'."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(1, 5))))
        out.append((" ".join(words), " ".join(w.upper() for w in reversed(words)) + " !"))
    return out


def _tsv(path, pairs, swap=False):
    path.write_text("".join(f"{t}\t{s}\n" if swap else f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from rnnkit.cli.main import main

    tmp = tmp_path_factory.mktemp("translate")
    # target first, source second, as in the Tatoeba files (English<TAB>French) read French → English
    train, valid = _tsv(tmp / "train.txt", _pairs(400, 0), swap=True), _tsv(tmp / "valid.txt", _pairs(40, 1), swap=True)
    run = tmp / "run"
    assert main([str(a) for a in ["translate", "train", "--data", train, "--valid", valid, "--out", run,
                                  "--source-column", "2", "--target-column", "1", "--level", "word",
                                  "--epochs", "12", *SMALL]]) == 0
    return run, train, valid


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_trains_evaluates_and_predicts(rnnkit, trained, tmp_path, monkeypatch):
    run, train, valid = trained
    for name in ("config.json", "source_vocab.json", "target_vocab.json", "model.safetensors", "state.json",
                 "metrics.jsonl", "loss.png", "best/model.safetensors"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "translate" and config["data"]["level"] == "word"
    bleu = [r["valid_bleu"] for r in _records(run) if "valid_bleu" in r]
    assert max(bleu) > 90

    import sacrebleu

    calls = []
    real = sacrebleu.corpus_bleu
    monkeypatch.setattr(sacrebleu, "corpus_bleu", lambda h, r, **kw: calls.append(len(h)) or real(h, r, **kw))
    code, out, err = rnnkit("translate", "eval", run, "--data", valid, "--json", "--output", tmp_path / "out.tsv")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert {"bleu", "chrf", "exact_match"} <= set(result) and result["exact_match"] > 0.9
    assert calls == [40]                                                # sacrebleu scored the 40 sentences
    rows = [line.split("\t") for line in (tmp_path / "out.tsv").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 40
    hyps, refs = [r[2] for r in rows], [r[1] for r in rows]
    assert result["bleu"] == pytest.approx(real(hyps, [refs]).score)
    assert result["exact_match"] == pytest.approx(np.mean([h == r for h, r in zip(hyps, refs)]))
    assert rows[0][0] in {s for s, _ in _pairs(40, 1)}                 # the source column was read as told

    monkeypatch.setattr("sys.stdin", io.StringIO("red cat\n\nsun moon tree\n"))
    code, out, err = rnnkit("translate", "predict", run, "--attention-png", tmp_path / "att")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["translation"] for x in lines] == ["CAT RED !", "", "TREE MOON SUN !"]
    assert lines[1]["log_prob"] is None and lines[0]["log_prob"] < 0
    assert (tmp_path / "att" / "attention-1.png").is_file() and (tmp_path / "att" / "attention-3.png").is_file()

    plain = tmp_path / "in.txt"
    plain.write_text("dog\nblue green\n", encoding="utf-8")
    code, out, err = rnnkit("translate", "predict", run, plain, "--format", "text", "--n-best", "3")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["translation"] == "DOG !" and len(lines[1]["n_best"]) == 3
    assert lines[1]["n_best"][0]["log_prob"] >= lines[1]["n_best"][1]["log_prob"]


def test_unknown_words_and_long_sources_are_handled(rnnkit, trained, monkeypatch):
    run, _, _ = trained
    monkeypatch.setattr("sys.stdin", io.StringIO("zebra ünïcode cat\n" + " ".join(["red"] * 40) + "\n"))
    with pytest.warns(UserWarning, match=r"<stdin>:2: the source has 40 tokens, over 3× the longest in training"):
        code, out, err = rnnkit("translate", "predict", run)
    assert code == 0, err
    assert len(out.splitlines()) == 2


def test_char_and_subword_levels_and_a_jsonl_file(rnnkit, tmp_path):
    pairs = _pairs(60, 2)
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"de": s, "en": t}) + "\n" for s, t in pairs), encoding="utf-8")
    for level, extra in (("char", []), ("subword", ["--vocab-size", "40"]),
                         ("subword", ["--shared-vocab", "--vocab-size", "50"])):
        run = tmp_path / f"run-{level}-{len(extra)}"
        code, out, err = rnnkit("translate", "train", "--data", data, "--source-column", "de", "--target-column",
                                "en", "--level", level, *extra, "--out", run, "--steps", "6", *SMALL)
        assert code == 0, err
        spm = sorted(p.name for p in run.glob("*.spm"))
        assert spm == ([] if level == "char" else ["source.spm"] if "--shared-vocab" in extra else
                       ["source.spm", "target.spm"])
        code, out, err = rnnkit("translate", "eval", run, "--data", data, "--json", "--beam", "2")
        assert code == 0, err
        assert 0 <= json.loads(out.splitlines()[-1])["bleu"] <= 100


@pytest.mark.parametrize("text,flags,message", [
    ("hello\tbonjour\nworld\n", [], r"train.tsv:2: the row has 1 field, so no target \(column 2\)"),
    ("hello\tbonjour\n\t  monde\n", [], r"train.tsv:2: the source is empty"),
    ("hello\tbonjour\nworld\t \n", [], r"train.tsv:2: the target is empty"),
    ("hello\tbonjour\n", ["--target-column", "3"], r"train.tsv:1: the target column 3 does not exist"),
    ("src\ttgt\nhello\tbonjour\n", ["--source-column", "from"], r"no column named 'from'; the header has 'src'"),
    ("hello\tbonjour\n", ["--attention", "dot"], r"dot attention .* --no-bidirectional"),
    ("hello\tbonjour\n", ["--tie-embeddings", "--hidden", "8"], r"--tie-embeddings needs --embedding equal"),
    ("", [], r"train.tsv: the file is empty|no rows"),
])
def test_bad_training_data_exits_2_and_writes_nothing(rnnkit, tmp_path, text, flags, message):
    path = tmp_path / "train.tsv"
    path.write_text(text, encoding="utf-8")
    code, out, err = rnnkit("translate", "train", "--data", path, "--out", tmp_path / "run", "--steps", "2",
                            *SMALL, *flags)
    assert code == 2 and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_jsonl_without_the_target_key_names_its_line(rnnkit, trained, tmp_path):
    run, _, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "red", "target": "RED !"}\n{"source": "cat"}\n', encoding="utf-8")
    code, out, err = rnnkit("translate", "eval", run, "--data", bad)
    assert code == 2 and "bad.jsonl:2: no key 'target' for the target" in err


def test_default_epochs_follow_the_token_budget():
    from rnnkit.tasks.translate import MIN_EPOCHS, TOKEN_BUDGET, TRANSLATE_TRAIN_DEFAULTS, default_epochs

    assert default_epochs(TOKEN_BUDGET // 4) == 4
    assert default_epochs(10 * TOKEN_BUDGET) == MIN_EPOCHS
    assert default_epochs(1000) == TRANSLATE_TRAIN_DEFAULTS.epochs
