"""Bad input never crashes the command line: fuzzed data files and fuzzed flag values either work (exit 0) or
end with ``rnnkit: error: …`` / an argparse usage error and exit status 2, never a traceback."""

from __future__ import annotations

import contextlib
import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.cli.main import main
from tests.cli.conftest import CORPUS

FUZZ = settings(max_examples=25, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TINY = ["--hidden", "4", "--layers", "1", "--embedding", "2", "--batch-size", "1", "--seq-len", "2", "--steps", "1",
        "--eval-every", "1", "--eval-batches", "1", "--save-every", "1", "--quiet", "--sample-length", "0"]
_serial = itertools.count()


def _cli(*argv) -> tuple[int, str]:
    """Run the CLI in-process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = e.code
    return code, err.getvalue()


def _check(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        assert "error:" in err and err.strip().splitlines()[-1].strip(), err


# --- data files ---------------------------------------------------------------------------------------------

PIECES = [b"\xef\xbb\xbf", b"ab", b" ", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"\x00", b"\xe6\x97\xa5",
          b"\xe6\x97", b"\xf0\x9f\x98\x80", b"\xcc\x81", b"don't", b"3.14", b"\x0b\x0c\x1c\xc2\x85\xe2\x80\xa8", b"\t"]
FILES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=120).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
    st.integers(1, 300_000).map(lambda n: b"x" * n),  # one huge line
    st.just(b""),
)


@FUZZ
@given(data=FILES, level=st.sampled_from(["char", "word"]), errors=st.sampled_from(["strict", "replace"]),
       valid=st.sampled_from(["0", "0.3"]))
def test_any_data_file_trains_or_exits_2(tmp_path, data, level, errors, valid):
    n = next(_serial)
    path = tmp_path / f"data-{n}.txt"
    path.write_bytes(data)
    code, err = _cli("lm", "train", "--data", path, "--out", tmp_path / f"run-{n}", "--cache-dir", tmp_path / "cache",
                     "--level", level, "--encoding-errors", errors, "--valid-fraction", valid, *TINY)
    _check(code, err)
    if data.strip(b" \t\r\n\x0b\x0c") == b"" or b"\x00" in data:
        assert code == 2  # nothing to learn, or binary


def test_the_fuzzed_data_runs_include_successes(tmp_path):
    """The control: a plain small file does train through the same command."""
    path = tmp_path / "ok.txt"
    path.write_bytes(b"\xef\xbb\xbfab\r\ncd\re\n" * 3)
    code, err = _cli("lm", "train", "--data", path, "--out", tmp_path / "run", "--cache-dir", tmp_path / "c",
                     "--valid-fraction", "0", *TINY)
    assert code == 0, err


# --- flag values --------------------------------------------------------------------------------------------

NONSENSE = ["nan", "NaN", "inf", "-inf", "1e309", "abc", "", "0x10", "1_0", "-", "½", "1e-320", "-0"]
BAD = st.one_of(st.integers(-3, 0).map(str), st.floats(-3, 0).map(repr), st.sampled_from(NONSENSE))


def _flags(valid: dict, corrupt: str | None, bad: str) -> list[str]:
    """``--name=value`` for every flag, with the one named ``corrupt`` (if any) given the value ``bad``."""
    return [f"--{k}={bad if k == corrupt else v}" for k, v in valid.items()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz-run")
    (base / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    code, err = _cli("lm", "train", "--data", base / "corpus.txt", "--out", base / "run", "--cache-dir",
                     base / "cache", *TINY[:8], "--batch-size", "2", "--seq-len", "8", "--steps", "2", "--quiet",
                     "--sample-length", "0")
    assert code == 0, err
    return base


SAMPLE = st.fixed_dictionaries({
    "temperature": st.floats(0, 3).map(repr), "top-p": st.floats(0.01, 1).map(repr),
    "top-k": st.integers(1, 6).map(str), "length": st.integers(0, 20).map(str), "num": st.integers(1, 2).map(str)})


@FUZZ
@given(valid=SAMPLE, corrupt=st.sampled_from([None, "temperature", "top-p", "top-k", "length", "num"]), bad=BAD,
       greedy=st.booleans())
def test_any_sampling_flags_work_or_exit_2(trained, valid, corrupt, bad, greedy):
    argv = ["lm", "sample", trained / "run", *_flags(valid, corrupt, bad), "--seed", "1"]
    code, err = _cli(*argv, *(["--greedy"] if greedy else []))
    _check(code, err)
    if corrupt is None:
        assert code == 0, err
    elif bad in ("nan", "NaN", "inf", "-inf", "1e309", "abc", "-1", "-1.0"):
        assert code == 2 and corrupt in err, err


TRAIN = st.fixed_dictionaries({
    "hidden": st.integers(1, 6).map(str), "layers": st.integers(1, 2).map(str),
    "batch-size": st.integers(1, 3).map(str), "seq-len": st.integers(1, 6).map(str),
    "steps": st.integers(1, 2).map(str), "lr": st.floats(1e-3, 1).map(repr), "dropout": st.floats(0, 0.9).map(repr),
    "valid-fraction": st.floats(0, 0.5).map(repr), "clip-norm": st.floats(0, 5).map(repr)})


@FUZZ
@given(valid=TRAIN, corrupt=st.sampled_from([None, "hidden", "layers", "batch-size", "seq-len", "steps", "lr",
                                             "dropout", "valid-fraction", "clip-norm"]), bad=BAD)
def test_any_training_sizes_work_or_exit_2(trained, tmp_path, valid, corrupt, bad):
    n = next(_serial)
    code, err = _cli("lm", "train", "--data", trained / "corpus.txt", "--out", tmp_path / f"run-{n}",
                     "--cache-dir", trained / "cache", *_flags(valid, corrupt, bad), "--embedding", "2",
                     "--eval-batches", "1", "--quiet", "--sample-length", "0")
    _check(code, err)
    if corrupt is None:
        assert code == 0, err
    elif bad in ("nan", "NaN", "inf", "-inf", "1e309", "abc", "-1", "-1.0"):
        assert code == 2 and corrupt in err, err
