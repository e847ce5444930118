"""The dinosaur-name generator of the notes, on the real data set (skipped when ../shared is absent)."""

from pathlib import Path

import pytest

from rnnkit.cli.main import main

DINOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dinos" / "dinos.txt"
pytestmark = pytest.mark.skipif(not DINOS.exists(), reason="needs ../shared/data/dinos/dinos.txt")


def test_one_name_per_sample_stopping_at_the_line_end(tmp_path, capsys):
    run = tmp_path / "dinos"
    assert main(["lm", "train", "--data", str(DINOS), "--out", str(run), "--eos", "line", "--cell", "gru",
                 "--hidden", "32", "--layers", "1", "--embedding", "0", "--batch-size", "16", "--seq-len", "25",
                 "--steps", "60", "--lr", "1e-2", "--eval-every", "60", "--quiet", "--sample-length", "0",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    assert main(["lm", "sample", str(run), "--num", "5", "--length", "40", "--seed", "1"]) == 0
    names = capsys.readouterr().out.splitlines()
    assert len(names) == 5  # five samples, each on one line: a sample ends at <EOS>, the line end
    assert any(len(name) < 40 for name in names)  # and stops there, before --length
    known = {line.strip().lower() for line in DINOS.read_text().splitlines()}
    assert main(["lm", "score", str(run), "--json", sorted(known)[0]]) == 0
