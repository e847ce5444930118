"""``--tensorboard DIR``: event files with the numbers of metrics.jsonl, no change to training, an exact resume,
and a one-line error when the package is missing."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.training.trainer import Trainer

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

CORPUS = "".join(f"the {w} fox jumps over the lazy dog number {i}.\n"
                 for i, w in zip(range(300), ["quick", "brown", "slow", "red"] * 75))
SMALL = ["--hidden", "16", "--embedding", "8", "--batch-size", "4", "--seq-len", "16", "--eval-every", "10",
         "--eval-batches", "3", "--save-every", "5", "--log-every", "1", "--quiet", "--dropout", "0.2", "--seed", "5",
         "--lr", "5e-3", "--schedule", "constant"]


@pytest.fixture
def lm_train(tmp_path, capsys):
    """``rnnkit lm train`` in-process on a tiny corpus; returns (exit status, stderr)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")

    def run(*argv):
        capsys.readouterr()
        code = main(["lm", "train", "--cache-dir", str(tmp_path / "cache"), *map(str, argv)])
        return code, capsys.readouterr().err
    run.corpus = corpus
    return run


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _scalars(log_dir):
    """(tag → [(step, value)], the accumulator) of the event files in log_dir, as TensorBoard reads them."""
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}, acc


def _expected(records) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as the scalars TensorBoard stores them (float32)."""
    out: dict[str, list] = {}
    for r in records:
        for key, value in r.items():
            if key not in ("step", "epoch", "time"):
                tag = "valid/" + key[6:] if key.startswith("valid_") else "train/" + key
                out.setdefault(tag, []).append((r["step"], float(np.float32(value))))
    return out


def test_event_files_hold_metrics_jsonl_values_and_change_no_loss(lm_train, tmp_path):
    plain, logged, tb = tmp_path / "plain", tmp_path / "logged", tmp_path / "tb"
    assert lm_train("--data", lm_train.corpus, "--out", plain, "--steps", "20", *SMALL)[0] == 0
    # --sample-length makes the sample under --quiet too, for TensorBoard alone: it must not touch training
    code, err = lm_train("--data", lm_train.corpus, "--out", logged, "--steps", "20", "--tensorboard", tb,
                         "--sample-length", "30", *SMALL)
    assert code == 0, err
    records = _records(logged)
    losses = lambda rs: [(r["step"], r.get("loss"), r.get("valid_loss")) for r in rs]
    assert losses(records) == losses(_records(plain))                  # bit-identical
    assert json.loads((logged / "config.json").read_text())["train"]["tensorboard"] == str(tb)

    scalars, acc = _scalars(tb)
    expected = _expected(records)
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "valid/loss",
            "valid/perplexity"} <= set(expected)
    for tag, points in expected.items():
        assert scalars[tag] == points, tag
    assert [s for s, _ in scalars["valid/best_loss"]] == [10, 20]
    assert scalars["valid/best_loss"][-1][1] == pytest.approx(min(r["valid_loss"] for r in records if
                                                                  "valid_loss" in r), rel=1e-6)
    samples = acc.Tensors("sample/text_summary")
    assert [e.step for e in samples] == [10, 20]
    assert all(len(e.tensor_proto.string_val[0].decode()) > 30 for e in samples)


def test_resume_after_a_kill_appends_without_duplicating_steps(lm_train, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog

    run, tb = tmp_path / "run", tmp_path / "tb"
    step = Trainer._train_step

    def killed_at_18(self, batch, elapsed=None):
        if self.step == 17:                      # steps 16, 17 logged after the checkpoint at 15: lost work
            raise KeyboardInterrupt
        return step(self, batch, elapsed)

    monkeypatch.setattr(Trainer, "_train_step", killed_at_18)
    assert lm_train("--data", lm_train.corpus, "--out", run, "--steps", "25", "--tensorboard", tb, *SMALL)[0] == 130
    monkeypatch.undo()
    assert max(s for s, _ in _scalars(tb)[0]["train/loss"]) == 17
    code, err = lm_train("--resume", run, "--steps", "25", "--quiet")     # the saved --tensorboard goes on
    assert code == 0, err

    scalars, _ = _scalars(tb)
    assert [s for s, _ in scalars["train/loss"]] == list(range(1, 26))   # 15 kept, 16 and 17 once
    assert [s for s, _ in scalars["valid/loss"]] == [10, 20, 25]
    for tag, points in _expected(_records(run)).items():
        assert scalars[tag] == points, tag
    files = sorted(tb.glob("events.out.tfevents.*"))
    assert len(files) == 2
    starts = [e.step for e in EventFileLoader(str(files[1])).Load()
              if e.HasField("session_log") and e.session_log.status == SessionLog.START]
    assert starts == [16]                        # TensorBoard drops the killed run's steps from 16 on


def test_missing_tensorboard_is_a_one_line_error_before_anything_is_written(lm_train, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)    # makes the import raise ImportError
    run = tmp_path / "run"
    code, err = lm_train("--data", lm_train.corpus, "--out", run, "--steps", "2", "--tensorboard", tmp_path / "tb",
                         *SMALL)
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'rnnkit[tensorboard]'" in err and "Traceback" not in err
    assert not run.exists() and not (tmp_path / "tb").exists()


def test_an_empty_tensorboard_turns_a_saved_one_off(tmp_path):
    import argparse

    from rnnkit.cli.args import train_config
    from rnnkit.training.config import TrainConfig

    args = argparse.Namespace(**{name: None for name in TrainConfig.__dataclass_fields__})
    assert train_config(args, TrainConfig(), {"tensorboard": str(tmp_path)}).tensorboard == str(tmp_path)
    args.tensorboard = ""
    assert train_config(args, TrainConfig(), {"tensorboard": str(tmp_path)}).tensorboard is None
