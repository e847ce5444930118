import pytest

from rnnkit.cli.main import main

CORPUS = "".join(f"the {w} fox jumps over the lazy dog number {i}.\n"
                 for i, w in zip(range(300), ["quick", "brown", "slow", "red"] * 75))


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


@pytest.fixture
def rnnkit(tmp_path, capsys):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    def run(*argv):
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse errors
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


SMALL = ["--hidden", "16", "--layers", "1", "--embedding", "8", "--batch-size", "4", "--seq-len", "16",
         "--eval-every", "10", "--eval-batches", "3",
         "--save-every", "5", "--log-every", "1", "--quiet", "--sample-length", "0"]
