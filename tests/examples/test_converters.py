"""The conversion scripts of the classification examples: HAPT and MSR Action3D to npz, the splice hold-out.

Fake raw folders in the real layouts check the exact values written; the real data sets are converted only
when ../shared/data is present (skipped otherwise).
"""

from __future__ import annotations

import csv
import importlib.util
import lzma
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"rnnkit_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hapt = load_script("hapt_to_npz")
msr = load_script("msr_action3d_to_npz")
splice = load_script("splice_split")

HAPT_NAMES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]


def load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def check_layout(arrays, features, classes):
    assert set(arrays) == {"x", "lengths", "y", "label_names"}
    assert arrays["x"].dtype == np.float32 and arrays["x"].ndim == 2 and arrays["x"].shape[1] == features
    assert arrays["lengths"].dtype == np.int64 and arrays["y"].dtype == np.int64
    assert arrays["label_names"].dtype.kind == "U" and arrays["label_names"].shape == (classes,)
    assert arrays["lengths"].sum() == len(arrays["x"]) and len(arrays["y"]) == len(arrays["lengths"])
    assert all(value.dtype != object for value in arrays.values())


# --- HAPT ------------------------------------------------------------------------------------------------------

def fake_signal(experiment, rows, gyro):
    """Values that say where they come from: experiment, 0-based row and column, exact in float32."""
    r = np.arange(rows, dtype=np.float64)[:, None]
    values = experiment * 10000 + r * 4 + np.arange(3) + 0.25
    return -values if gyro else values


def write_signal(path, values, xz=False):
    text = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in values)
    if xz:
        with lzma.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)


# (experiment, user, activity, start_row, end_row), 1-based inclusive as in the real labels.txt
LABELS = [
    (1, 1, 5, 3, 300),      # 298 rows: windows from rows 3, 67, 131 (the fourth would end at 322)
    (1, 1, 7, 301, 340),    # a postural transition: dropped
    (1, 1, 1, 341, 500),    # 160 rows: one window, rows 341-468
    (1, 1, 4, 501, 600),    # 100 rows: shorter than a window, none
    (2, 2, 6, 1, 256),      # 256 rows: windows from 1, 65, 129, the last ending exactly at the segment end
    (3, 3, 2, 10, 200),     # 191 rows: one window
]
SIGNAL_ROWS = {1: 620, 2: 260, 3: 210}
USERS = {1: 1, 2: 2, 3: 3}


@pytest.fixture
def hapt_dir(tmp_path):
    root = tmp_path / "hapt"
    raw = root / "RawData"
    raw.mkdir(parents=True)
    (root / "activity_labels.txt").write_text("".join(f"{i} {name:<20}\n" for i, name in enumerate(
        HAPT_NAMES + ["STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND"],
        1)))
    (raw / "labels.txt").write_text("".join(" ".join(map(str, row)) + "\n" for row in LABELS))
    for experiment, rows in SIGNAL_ROWS.items():
        user, xz = USERS[experiment], experiment == 2  # experiment 2 is xz-compressed, as in the shared copy
        suffix = ".txt.xz" if xz else ".txt"
        write_signal(raw / f"acc_exp{experiment:02d}_user{user:02d}{suffix}", fake_signal(experiment, rows, False), xz)
        write_signal(raw / f"gyro_exp{experiment:02d}_user{user:02d}{suffix}", fake_signal(experiment, rows, True), xz)
    return root


def expected_window(experiment, first_row):
    """The window whose first row is ``first_row`` (1-based): acc x y z then gyro x y z, 128 rows."""
    rows = slice(first_row - 1, first_row - 1 + 128)
    rows_total = SIGNAL_ROWS[experiment]
    return np.concatenate([fake_signal(experiment, rows_total, False)[rows],
                           fake_signal(experiment, rows_total, True)[rows]], axis=1).astype(np.float32)


def test_hapt_windows_hold_the_raw_rows_of_their_segment(hapt_dir, tmp_path, capsys):
    out = tmp_path / "out" / "hapt.npz"
    assert hapt.main(["--raw", str(hapt_dir), "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert len(summary.splitlines()) == 1 and "8 windows" in summary and "3 volunteers" in summary
    arrays = load_npz(out)
    check_layout(arrays, 6, 6)
    assert arrays["label_names"].tolist() == HAPT_NAMES
    assert arrays["lengths"].tolist() == [128] * 8
    # order (experiment, segment, window); the transition and the short segment give nothing
    starts = [(1, 3), (1, 67), (1, 131), (1, 341), (2, 1), (2, 65), (2, 129), (3, 10)]
    assert arrays["y"].tolist() == [4, 4, 4, 0, 5, 5, 5, 1]
    windows = arrays["x"].reshape(-1, 128, 6)
    for window, (experiment, first_row) in zip(windows, starts):
        np.testing.assert_array_equal(window, expected_window(experiment, first_row))
    # by hand: window 2 of the first segment is rows start+64 ... start+191 = 67 ... 194 (1-based)
    assert windows[1][0, 0] == np.float32(1 * 10000 + 66 * 4 + 0.25)
    assert windows[1][-1, 2] == np.float32(1 * 10000 + 193 * 4 + 2 + 0.25)
    assert windows[1][0, 3] == -windows[1][0, 0] and windows[1][5, 5] == -windows[1][5, 2]
    # 50 % overlap: the second half of a window is the first half of the next one
    np.testing.assert_array_equal(windows[0][64:], windows[1][:64])
    np.testing.assert_array_equal(windows[4][64:], windows[5][:64])


def test_hapt_no_window_crosses_a_segment_end(hapt_dir, tmp_path):
    out = tmp_path / "hapt.npz"
    assert hapt.main(["--raw", str(hapt_dir / "RawData"), "--out", str(out)]) == 0  # RawData itself also works
    arrays = load_npz(out)
    for window, label in zip(arrays["x"].reshape(-1, 128, 6), arrays["y"]):
        experiment = int(window[0, 0] // 10000)
        rows = (window[:, 0] - experiment * 10000 - 0.25) / 4 + 1  # 1-based rows of the file
        np.testing.assert_array_equal(np.diff(rows), 1)
        inside = [seg for seg in LABELS if seg[0] == experiment and seg[3] <= rows[0] and rows[-1] <= seg[4]]
        assert len(inside) == 1 and inside[0][2] == label + 1
    assert hapt.window_starts(1, 256) == [0, 64, 128] and hapt.window_starts(1, 255) == [0, 64]
    assert hapt.window_starts(5, 131) == []


def test_hapt_selects_volunteers(hapt_dir, tmp_path, capsys):
    assert hapt.main(["--raw", str(hapt_dir), "--out", str(tmp_path / "a.npz"), "--users", "2", "3"]) == 0
    assert load_npz(tmp_path / "a.npz")["y"].tolist() == [5, 5, 5, 1]
    assert hapt.main(["--raw", str(hapt_dir), "--out", str(tmp_path / "b.npz"), "--exclude-users", "2", "3"]) == 0
    assert load_npz(tmp_path / "b.npz")["y"].tolist() == [4, 4, 4, 0]
    capsys.readouterr()
    assert hapt.main(["--raw", str(hapt_dir), "--out", str(tmp_path / "c.npz"), "--users", "9"]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "c.npz").exists()


def test_hapt_experiments_without_signal_files(hapt_dir, tmp_path, capsys):
    for path in (hapt_dir / "RawData").glob("*_exp03_*"):
        path.unlink()
    assert hapt.main(["--raw", str(hapt_dir), "--out", str(tmp_path / "a.npz")]) == 0
    assert "skipped 1 experiments" in capsys.readouterr().out
    assert len(load_npz(tmp_path / "a.npz")["y"]) == 7
    assert hapt.main(["--raw", str(hapt_dir), "--out", str(tmp_path / "b.npz"), "--users", "3"]) == 2
    assert "exp03_user03" in capsys.readouterr().err


# --- MSR Action3D ----------------------------------------------------------------------------------------------

def skeleton(frames, seed):
    """(frames * 20, 4) rows x y z confidence with distinct values."""
    rng = np.random.default_rng(seed)
    rows = np.round(rng.uniform(-3, 3, size=(frames * 20, 4)), 6)
    rows[:, 3] = np.round(rng.uniform(0, 1, size=frames * 20), 6)
    return rows


def write_skeleton(path, rows):
    path.write_text("".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in rows))


@pytest.fixture
def msr_dir(tmp_path):
    root = tmp_path / "msr"
    root.mkdir()
    good = {"a01_s01_e01": skeleton(3, 1), "a02_s01_e01": skeleton(2, 2), "a10_s03_e01": skeleton(4, 3)}
    for name, rows in good.items():
        write_skeleton(root / f"{name}_skeleton3D.txt", rows)
    write_skeleton(root / "a05_s03_e02_skeleton3D.txt", skeleton(2, 4)[:30])  # 30 rows: not whole frames
    zeros = np.zeros((40, 4))
    write_skeleton(root / "a07_s03_e01_skeleton3D.txt", zeros)  # all zeros
    (root / "a03_s01_e02_skeleton3D.txt").write_text("")  # no frames
    (root / "notes.txt").write_text("not a skeleton\n")
    return root, good


def test_msr_sequences_drop_confidence_and_skip_broken_files(msr_dir, tmp_path, capsys):
    root, good = msr_dir
    out = tmp_path / "msr.npz"
    assert msr.main(["--raw", str(root), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    warnings = captured.err.splitlines()
    assert len(warnings) == 3 and all(line.startswith("warning: skipped ") for line in warnings)
    for name in ("a03_s01_e02", "a05_s03_e02", "a07_s03_e01"):
        assert any(name in line for line in warnings)
    assert "3 broken files skipped" in captured.out and len(captured.out.splitlines()) == 1
    arrays = load_npz(out)
    check_layout(arrays, 60, 20)
    assert arrays["label_names"].tolist() == [f"a{i:02d}" for i in range(1, 21)]
    assert arrays["y"].tolist() == [0, 1, 9]  # sorted file order: a01_s01, a02_s01, a10_s03
    assert arrays["lengths"].tolist() == [3, 2, 4]
    expected = np.concatenate([good[n][:, :3].reshape(-1, 60) for n in ("a01_s01_e01", "a02_s01_e01",
                                                                         "a10_s03_e01")]).astype(np.float32)
    np.testing.assert_array_equal(arrays["x"], expected)
    # by hand: frame 2 of the first sequence, joint 3 = file row 20 + 3 (1-based), its x y z in columns 6..8
    np.testing.assert_array_equal(arrays["x"][1, 6:9], good["a01_s01_e01"][22, :3].astype(np.float32))


def test_msr_selects_subjects(msr_dir, tmp_path, capsys):
    root, _ = msr_dir
    assert msr.main(["--raw", str(root), "--out", str(tmp_path / "a.npz"), "--subjects", "3"]) == 0
    arrays = load_npz(tmp_path / "a.npz")
    assert arrays["y"].tolist() == [9] and len(arrays["label_names"]) == 20
    capsys.readouterr()
    assert msr.main(["--raw", str(root), "--out", str(tmp_path / "b.npz"), "--subjects", "2"]) == 2
    assert "error" in capsys.readouterr().err


# --- splice ----------------------------------------------------------------------------------------------------

def fake_splice(path):
    """100 lines in the UCI layout; some sequences repeated (groups of 3 copies, same label)."""
    rng = np.random.default_rng(0)
    lines, repeats = [], {}
    for i, label in enumerate(["EI"] * 25 + ["IE"] * 25 + ["N"] * 50):
        sequence = "".join(rng.choice(list("ACGT"), 60))
        if i % 10 in (1, 2) and i - 1 in repeats:  # rows 1, 2 repeat row 0's sequence; 11, 12 row 10's ...
            sequence = repeats[i - 1] if i % 10 == 1 else repeats[i - 2]
        repeats[i] = sequence
        lines.append(f"{label},{' ' * 5}HUM{i:04d}-{label},{' ' * 10}{sequence}\n")
    path.write_text("".join(lines))
    return lines


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_splice_split_is_stratified_deterministic_and_keeps_duplicates_together(tmp_path, capsys):
    data = tmp_path / "splice.data"
    fake_splice(data)
    assert splice.main(["--data", str(data), "--out-dir", str(tmp_path / "a")]) == 0
    assert "repeated" in capsys.readouterr().out
    train, test = read_csv(tmp_path / "a" / "train.csv"), read_csv(tmp_path / "a" / "test.csv")
    assert train[0] == test[0] == ["label", "name", "sequence"]
    train, test = train[1:], test[1:]
    assert all(field == field.strip() and field for row in train + test for field in row)
    assert sorted(r[1] for r in train + test) == sorted(f"HUM{i:04d}-{label}" for i, label in
                                                        enumerate(["EI"] * 25 + ["IE"] * 25 + ["N"] * 50))
    counts = {label: sum(r[0] == label for r in test) for label in ("EI", "IE", "N")}
    assert counts == {"EI": 5, "IE": 5, "N": 10}
    assert not {r[2] for r in train} & {r[2] for r in test}  # no sequence on both sides
    # rows keep the input order
    assert [r[1] for r in train] == sorted(r[1] for r in train)
    # the same seed gives the same files, another seed another split
    assert splice.main(["--data", str(data), "--out-dir", str(tmp_path / "b")]) == 0
    for name in ("train.csv", "test.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert splice.main(["--data", str(data), "--out-dir", str(tmp_path / "c"), "--seed", "1"]) == 0
    assert (tmp_path / "a" / "test.csv").read_bytes() != (tmp_path / "c" / "test.csv").read_bytes()
    assert splice.main(["--data", str(data), "--out-dir", str(tmp_path / "d"), "--test-fraction", "1.5"]) == 2


def test_splice_rejects_malformed_lines(tmp_path, capsys):
    data = tmp_path / "bad.data"
    data.write_text("EI, HUM1, ACGT\nIE HUM2 ACGT\n")
    assert splice.main(["--data", str(data), "--out-dir", str(tmp_path / "o")]) == 2
    assert "bad.data:2" in capsys.readouterr().err


# --- the real data sets ----------------------------------------------------------------------------------------

@pytest.mark.skipif(not (DATA / "hapt" / "RawData").is_dir(), reason="needs ../shared/data/hapt")
def test_real_hapt_two_volunteers(tmp_path, capsys):
    out = tmp_path / "hapt.npz"
    assert hapt.main(["--raw", str(DATA / "hapt"), "--out", str(out), "--users", "1", "3"]) == 0
    arrays = load_npz(out)
    check_layout(arrays, 6, 6)
    assert arrays["label_names"].tolist() == HAPT_NAMES
    assert len(arrays["y"]) == 691 and set(arrays["y"].tolist()) == set(range(6))
    # the first window: experiment 1, its first basic segment (STANDING, rows 250-1232), rows 250-377
    acc = np.loadtxt(DATA / "hapt" / "RawData" / "acc_exp01_user01.txt.xz")
    gyro = np.loadtxt(DATA / "hapt" / "RawData" / "gyro_exp01_user01.txt.xz")
    assert arrays["y"][0] == 4
    np.testing.assert_array_equal(arrays["x"][:128], np.concatenate([acc[249:377], gyro[249:377]], 1)
                                  .astype(np.float32))


@pytest.mark.skipif(not (DATA / "msr_action3d").is_dir(), reason="needs ../shared/data/msr_action3d")
def test_real_msr_two_subjects(tmp_path, capsys):
    out = tmp_path / "msr.npz"
    assert msr.main(["--raw", str(DATA / "msr_action3d"), "--out", str(out), "--subjects", "1", "3"]) == 0
    assert capsys.readouterr().err == ""  # no broken file among subjects 1 and 3
    arrays = load_npz(out)
    check_layout(arrays, 60, 20)
    assert len(arrays["y"]) == 116 and set(arrays["y"].tolist()) == set(range(20))
    first = np.loadtxt(DATA / "msr_action3d" / "a01_s01_e01_skeleton3D.txt")
    assert arrays["lengths"][0] * 20 == len(first)
    np.testing.assert_array_equal(arrays["x"][: arrays["lengths"][0]],
                                  first[:, :3].reshape(-1, 60).astype(np.float32))


@pytest.mark.skipif(not (DATA / "dna" / "splice.data").is_file(), reason="needs ../shared/data/dna/splice.data")
def test_real_splice_split(tmp_path, capsys):
    assert splice.main(["--data", str(DATA / "dna" / "splice.data"), "--out-dir", str(tmp_path)]) == 0
    train, test = read_csv(tmp_path / "train.csv")[1:], read_csv(tmp_path / "test.csv")[1:]
    assert len(train) + len(test) == 2552
    assert {label: sum(r[0] == label for r in test) for label in ("EI", "IE", "N")} == \
        {"EI": 123, "IE": 123, "N": 265}
    assert not {r[2] for r in train} & {r[2] for r in test}
    assert all(len(r[2]) == 60 for r in train + test)
