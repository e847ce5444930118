"""Checkpoints: the write journal, safe loading of tampered run directories, and divergence keeping the last
good checkpoint. Loading is safetensors and JSON only: a broken file is a one-line error and exit status 2."""

from __future__ import annotations

import ast
import json
import shutil
import struct
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rnnkit.cli.main import main
from rnnkit.training import checkpoint
from rnnkit.training.checkpoint import COMMIT, STAGING, recover, write_checkpoint
from tests.cli.conftest import CORPUS, SMALL

ROOT = Path(__file__).resolve().parents[2]


# --- the journal ------------------------------------------------------------------------------------------

def test_write_checkpoint_replaces_all_files_together(tmp_path):
    write_checkpoint(tmp_path, {"a.json": "1", "b.bin": b"one"})
    write_checkpoint(tmp_path, {"a.json": "2", "b.bin": b"two"})
    assert (tmp_path / "a.json").read_text() == "2" and (tmp_path / "b.bin").read_bytes() == b"two"
    assert not (tmp_path / STAGING).exists() and not (tmp_path / COMMIT).exists()


def test_recover_discards_staging_and_finishes_a_commit(tmp_path):
    write_checkpoint(tmp_path, {"a.json": "1", "b.bin": b"one"})
    (tmp_path / STAGING).mkdir()
    (tmp_path / STAGING / "a.json").write_text("half")  # killed before the commit point: the old files stay
    recover(tmp_path)
    assert (tmp_path / "a.json").read_text() == "1" and not (tmp_path / STAGING).exists()
    (tmp_path / COMMIT).mkdir()
    (tmp_path / COMMIT / "b.bin").write_bytes(b"two")  # killed after committing and moving a.json
    (tmp_path / "a.json").write_text("2")
    recover(tmp_path)
    recover(tmp_path)  # idempotent
    assert (tmp_path / "a.json").read_text() == "2" and (tmp_path / "b.bin").read_bytes() == b"two"
    assert not (tmp_path / COMMIT).exists()


def test_recover_tolerates_a_second_process_recovering_at_once(tmp_path, monkeypatch):
    (tmp_path / COMMIT).mkdir()
    for name in ("a", "b"):
        (tmp_path / COMMIT / name).write_text(name)
    real_replace = checkpoint.os.replace

    def racing_replace(src, dst):  # the other rank moved "a" first
        if Path(src).name == "a" and Path(src).exists():
            real_replace(src, dst)
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", racing_replace)
    recover(tmp_path)
    assert (tmp_path / "a").read_text() == "a" and (tmp_path / "b").read_text() == "b"


def _unpickling(path: Path) -> list[str]:
    """Imports of pickle-like modules and calls that may unpickle (torch.load, np.load, pickle.*) in a file."""
    found, tree = [], ast.parse(path.read_text(encoding="utf-8"))
    # np.load(…, allow_pickle=False) reads plain arrays only (the npz reader): that call is safe.
    safe = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy")):
            keyword = [k for k in node.keywords if k.arg == "allow_pickle"]
            if keyword and isinstance(keyword[0].value, ast.Constant) and keyword[0].value.value is False:
                safe.update({id(node.func), id(keyword[0])})
    for node in ast.walk(tree):
        if id(node) in safe:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"import {n}" for n in names if n and n.split(".")[0] in ("pickle", "dill", "joblib", "shelve")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in {("torch", "load"), ("np", "load"), ("numpy", "load")}:
                found.append(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg in ("allow_pickle", "weights_only"):
            found.append(node.arg)
    return found


def test_the_pickle_scan_finds_np_load_unless_pickles_are_refused(tmp_path):
    risky, safe = tmp_path / "risky.py", tmp_path / "safe.py"
    risky.write_text("import numpy as np\nnp.load('x.npz')\nnp.load('y.npz', allow_pickle=True)\n")
    safe.write_text("import numpy as np\nnp.load('x.npz', allow_pickle=False)\n")
    assert _unpickling(risky) == ["np.load", "np.load", "allow_pickle"] and _unpickling(safe) == []


def test_no_pickle_anywhere_in_the_package():
    offenders = {str(p): f for p in (ROOT / "rnnkit").rglob("*.py") if (f := _unpickling(p))}
    assert offenders == {}


def test_the_pickle_check_finds_pickle(tmp_path):
    (tmp_path / "bad.py").write_text("import pickle\nimport torch\nw = torch.load('x', weights_only=False)\n")
    assert _unpickling(tmp_path / "bad.py") == ["import pickle", "import torch", "torch.load", "weights_only"][:1] + [
        "torch.load", "weights_only"]


# --- tampered run directories -----------------------------------------------------------------------------

def _train(out: Path, cache: Path, *extra) -> None:
    corpus = out.parent / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    assert main(["lm", "train", "--data", str(corpus), "--out", str(out), "--cache-dir", str(cache), *SMALL,
                 "--steps", "2", *extra]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    _train(base / "run", base / "cache")
    _train(base / "wide", base / "cache", "--hidden", "20")
    return base


def _nan_weights(path: Path) -> None:
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    data[8 + n:8 + n + 8] = b"\xff" * 8  # the first tensor's first values become NaN
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_json(path: Path, edit) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(edit(obj)), encoding="utf-8")


TAMPER = {
    "model truncated": (lambda r, w: _truncate(r / "model.safetensors"), "all"),
    "model empty": (lambda r, w: (r / "model.safetensors").write_bytes(b""), "all"),
    "model header garbage": (lambda r, w: (r / "model.safetensors").write_bytes(
        b"\xff\xff\xff\xff\xff\xff\xff\x7f" + b"{}" * 40), "all"),
    "model NaN": (lambda r, w: _nan_weights(r / "model.safetensors"), "all"),
    "model from another --hidden": (lambda r, w: shutil.copy(w / "model.safetensors", r), "all"),
    "optimizer truncated": (lambda r, w: _truncate(r / "optimizer.safetensors"), "resume"),
    "optimizer from another --hidden": (lambda r, w: shutil.copy(w / "optimizer.safetensors", r), "resume"),
    "state truncated": (lambda r, w: _truncate(r / "state.json"), "resume"),
    "state not an object": (lambda r, w: (r / "state.json").write_text("[1, 2]"), "resume"),
    "state step is text": (lambda r, w: _edit_json(r / "state.json", lambda s: {**s, "step": "x"}), "resume"),
    "state rng tampered": (lambda r, w: _edit_json(
        r / "state.json", lambda s: {**s, "rng": {**s["rng"], "torch": "AAAA"}}), "resume"),
    "state without rng": (lambda r, w: _edit_json(
        r / "state.json", lambda s: {k: v for k, v in s.items() if k != "rng"}), "resume"),
    "config truncated": (lambda r, w: _truncate(r / "config.json"), "all"),
    "config newer format": (lambda r, w: _edit_json(r / "config.json", lambda c: {**c, "format_version": 99}),
                            "all"),
    "config of another task": (lambda r, w: _edit_json(r / "config.json", lambda c: {**c, "task": "tag"}), "all"),
    "config model malformed": (lambda r, w: _edit_json(
        r / "config.json", lambda c: {**c, "model": {"hidden_size": "big"}}), "use"),
    "config without data": (lambda r, w: _edit_json(
        r / "config.json", lambda c: {k: v for k, v in c.items() if k != "data"}), "resume"),
    "config train values of the wrong type": (lambda r, w: _edit_json(
        r / "config.json", lambda c: {**c, "train": {**c["train"], "batch_size": "4"}}), "resume"),
    "config data values of the wrong type": (lambda r, w: _edit_json(
        r / "config.json", lambda c: {**c, "data": {**c["data"], "hidden": [16]}}), "resume"),
    "config invalid UTF-8": (lambda r, w: (r / "config.json").write_bytes(b'{"a": "\xff"}'), "all"),
    "vocab truncated": (lambda r, w: _truncate(r / "vocab.json"), "all"),
    "vocab tokens not a list": (lambda r, w: _edit_json(r / "vocab.json", lambda v: {**v, "tokens": 5}), "all"),
    "vocab one token short": (lambda r, w: _edit_json(
        r / "vocab.json", lambda v: {**v, "tokens": v["tokens"][:-1]}), "all"),
    "vocab newer format": (lambda r, w: _edit_json(r / "vocab.json", lambda v: {**v, "format_version": 99}),
                           "all"),
}
USE = [["lm", "sample", "{run}", "--checkpoint", "latest", "--length", "5", "--seed", "1"],
       ["lm", "score", "{run}", "the dog", "--checkpoint", "latest"],
       ["lm", "eval", "{run}", "--data", "{corpus}", "--checkpoint", "latest"]]
RESUME = [["lm", "train", "--resume", "{run}", "--steps", "4", "--cache-dir", "{cache}"]]


@pytest.mark.parametrize("case", list(TAMPER))
def test_a_tampered_run_is_a_one_line_error_with_status_2(runs, tmp_path, capsys, case):
    tamper, which = TAMPER[case]
    run = tmp_path / "run"
    shutil.copytree(runs / "run", run)
    shutil.rmtree(run / "best")  # commands then read the latest files, the ones tampered with
    tamper(run, runs / "wide")
    commands = {"all": USE + RESUME, "use": USE, "resume": RESUME}[which]
    for argv in commands:
        argv = [a.format(run=run, corpus=runs / "corpus.txt", cache=runs / "cache") for a in argv]
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith("rnnkit: error: ") and str(run) in err, err


def test_the_untampered_run_works(runs, tmp_path, capsys):
    """The control for the tampering cases: the same commands on the intact copy succeed."""
    run = tmp_path / "run"
    shutil.copytree(runs / "run", run)
    for argv in USE + RESUME:
        argv = [a.format(run=run, corpus=runs / "corpus.txt", cache=runs / "cache") for a in argv]
        assert main(argv) == 0, capsys.readouterr().err


# --- divergence ---------------------------------------------------------------------------------------------

def test_non_finite_losses_are_skipped_then_stop_keeping_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    from rnnkit.tasks import lm as trainer

    real = trainer.sequence_cross_entropy
    calls = {"n": 0}

    def loss_goes_nan_after_step_4(logits, y, **kw):
        calls["n"] += 1
        loss = real(logits, y, **kw)
        return loss * float("nan") if kw.get("reduction") == "mean" and calls["n"] > 4 else loss

    monkeypatch.setattr(trainer, "sequence_cross_entropy", loss_goes_nan_after_step_4)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    run = tmp_path / "run"
    with pytest.warns(RuntimeWarning, match="non-finite loss") as caught:
        code = main(["lm", "train", "--data", str(corpus), "--out", str(run), "--cache-dir", str(tmp_path / "c"),
                     *SMALL, "--steps", "20", "--save-every", "2", "--max-bad-steps", "3", "--eval-every", "50"])
    err = capsys.readouterr().err
    assert code == 2 and "3 non-finite steps in a row" in err and "last good checkpoint" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert len([w for w in caught if "non-finite" in str(w.message)]) == 3
    state = json.loads((run / "state.json").read_text())
    assert state["step"] == 4  # the steps after it were skipped, none saved
    assert all(bool(t.isfinite().all()) for t in load_file(run / "model.safetensors").values())
    assert main(["lm", "sample", str(run), "--checkpoint", "latest", "--length", "5", "--seed", "0"]) == 0
