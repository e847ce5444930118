"""Tests for rnnkit.metrics.classification: numbers worked out by hand, edge cases, the text table, the PNG."""

import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.errors import RnnkitError
from rnnkit.metrics import classification_report, format_report, multilabel_report, plot_confusion

# 3 classes, 7 examples.
#   y_true  0 0 0 1 1 2 2
#   y_pred  0 0 1 1 1 0 2
# confusion (rows true, columns predicted): [[2, 1, 0], [0, 2, 0], [1, 0, 1]]
#   class 0: TP 2, FP 1 (a 2 called 0), FN 1 (a 0 called 1) -> P 2/3, R 2/3, F1 = 4 / (4 + 1 + 1) = 2/3, support 3
#   class 1: TP 2, FP 1 (a 0 called 1), FN 0                -> P 2/3, R 1,   F1 = 4 / (4 + 1 + 0) = 4/5, support 2
#   class 2: TP 1, FP 0,                FN 1 (a 2 called 0) -> P 1,   R 1/2, F1 = 2 / (2 + 0 + 1) = 2/3, support 2
# accuracy 5/7; macro P (2/3 + 2/3 + 1) / 3 = 7/9, macro R (2/3 + 1 + 1/2) / 3 = 13/18,
# macro F1 (2/3 + 4/5 + 2/3) / 3 = 32/45; weighted F1 (3·2/3 + 2·4/5 + 2·2/3) / 7 = 74/105.
Y_TRUE = [0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 1, 1, 1, 0, 2]
NAMES = ["cat", "dog", "bird"]


def per_class(report, key):
    return [c[key] for c in report["per_class"]]


def test_small_example_by_hand():
    r = classification_report(Y_TRUE, Y_PRED, num_classes=3)
    assert r["confusion"] == [[2, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["count"] == 7 and r["num_classes"] == 3
    assert r["accuracy"] == pytest.approx(5 / 7)
    assert per_class(r, "precision") == pytest.approx([2 / 3, 2 / 3, 1])
    assert per_class(r, "recall") == pytest.approx([2 / 3, 1, 1 / 2])
    assert per_class(r, "f1") == pytest.approx([2 / 3, 4 / 5, 2 / 3])
    assert per_class(r, "support") == [3, 2, 2]
    assert r["macro_precision"] == pytest.approx(7 / 9)
    assert r["macro_recall"] == pytest.approx(13 / 18)
    assert r["macro_f1"] == pytest.approx(32 / 45)
    assert r["weighted_f1"] == pytest.approx(74 / 105)
    assert r["weighted_recall"] == pytest.approx(r["accuracy"])  # Σ (n_k / N) · TP_k / n_k = Σ TP_k / N
    json.dumps(r)  # plain Python numbers, ready for metrics.jsonl


def test_numpy_arrays_and_lists_give_the_same_report():
    a = classification_report(np.array(Y_TRUE, dtype=np.int32), np.array(Y_PRED), 3)
    assert a == classification_report(Y_TRUE, Y_PRED, 3)


def test_perfect_predictions():
    y = [2, 0, 1, 1, 3, 0]
    r = classification_report(y, y, num_classes=4)
    assert r["accuracy"] == r["macro_f1"] == r["macro_precision"] == r["macro_recall"] == r["weighted_f1"] == 1.0
    assert r["confusion"] == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


def test_a_class_never_predicted_has_precision_0_and_counts_in_the_macro_average():
    # class 2 is true twice but never predicted: P 0 (nothing predicted), R 0/2, F1 0.
    # class 1: TP 1, FP 2 -> P 1/3, R 1, F1 2 / (2 + 2) = 1/2; class 0: all 1.  macro F1 (1 + 1/2 + 0) / 3 = 1/2
    r = classification_report([0, 1, 2, 2], [0, 1, 1, 1], num_classes=3)
    assert per_class(r, "precision") == pytest.approx([1, 1 / 3, 0])
    assert per_class(r, "recall") == pytest.approx([1, 1, 0])
    assert per_class(r, "f1") == pytest.approx([1, 1 / 2, 0])
    assert r["macro_f1"] == pytest.approx(1 / 2)
    assert r["macro_precision"] == pytest.approx(4 / 9)


def test_a_class_predicted_but_absent_from_y_true_has_recall_0_and_counts_in_the_macro_average():
    # class 2 never true, predicted once: P 0/1, R 0 (no true examples), F1 0, support 0.
    # class 0: TP 1, FN 1 -> P 1, R 1/2, F1 2/3; class 1: all 1.  macro F1 (2/3 + 1 + 0) / 3 = 5/9
    r = classification_report([0, 0, 1, 1], [0, 2, 1, 1], num_classes=3)
    assert r["per_class"][2] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == pytest.approx(5 / 9)
    assert r["macro_recall"] == pytest.approx(1 / 2)


def test_a_class_neither_true_nor_predicted_is_left_out_of_the_macro_average():
    # classes 2 and 3 appear nowhere. class 0: TP 1, FP 1 -> P 1/2, R 1, F1 2/3; class 1: TP 1, FN 1 -> P 1,
    # R 1/2, F1 2/3. Over the two classes present macro F1 = 2/3 (over all four it would be 1/3).
    r = classification_report([0, 1, 1], [0, 1, 0], num_classes=4)
    assert len(r["per_class"]) == 4 and len(r["confusion"]) == 4
    assert r["per_class"][3] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == pytest.approx(2 / 3)
    assert r["macro_precision"] == pytest.approx(3 / 4)
    assert r["macro_recall"] == pytest.approx(3 / 4)
    assert r["weighted_f1"] == pytest.approx(2 / 3)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(K=st.integers(1, 6), data=st.data())
def test_agrees_with_a_plain_loop(K, data):
    N = data.draw(st.integers(1, 40))
    y_true = data.draw(st.lists(st.integers(0, K - 1), min_size=N, max_size=N))
    y_pred = data.draw(st.lists(st.integers(0, K - 1), min_size=N, max_size=N))
    r = classification_report(y_true, y_pred, K)
    f1s = []
    for k in range(K):
        tp = sum(t == k and p == k for t, p in zip(y_true, y_pred))
        n_pred, n_true = y_pred.count(k), y_true.count(k)
        P = tp / n_pred if n_pred else 0.0
        R = tp / n_true if n_true else 0.0
        F = 2 * P * R / (P + R) if P + R else 0.0
        assert r["per_class"][k] == pytest.approx({"precision": P, "recall": R, "f1": F, "support": n_true})
        if n_pred or n_true:
            f1s.append(F)
        for j in range(K):
            assert r["confusion"][k][j] == sum(t == k and p == j for t, p in zip(y_true, y_pred))
    assert r["accuracy"] == pytest.approx(sum(t == p for t, p in zip(y_true, y_pred)) / N)
    assert r["macro_f1"] == pytest.approx(sum(f1s) / len(f1s))


@pytest.mark.parametrize("y_true, y_pred, K, match", [
    ([], [], 3, "at least one example"),
    ([0, 1], [0], 3, "y_true has 2 labels but y_pred has 1"),
    ([0, 3], [0, 1], 3, "class id 3, outside 0..2"),
    ([0, 1], [0, -1], 3, "y_pred holds class id -1"),
    ([[0, 1]], [[0, 1]], 3, "1-D"),
    ([0.2, 1.0], [0, 1], 3, "integer class ids"),
    ([0], [0], 0, "num_classes must be a positive integer"),
])
def test_bad_input_raises_a_value_error_that_is_also_an_rnnkit_error(y_true, y_pred, K, match):
    with pytest.raises(ValueError, match=match) as info:
        classification_report(y_true, y_pred, K)
    assert isinstance(info.value, RnnkitError)


# --- multi-label ------------------------------------------------------------------------------------------------

# 4 examples, 4 labels; label 3 is neither true nor predicted anywhere.
#   Y_true  [1 0 1 0]  [0 1 0 0]  [1 1 0 0]  [0 0 0 0]
#   Y_pred  [1 0 0 0]  [0 1 1 0]  [1 1 0 0]  [0 0 0 0]
# wrong cells: (0, 2) a missed positive, (1, 2) a false positive -> hamming accuracy 14/16 = 7/8;
# examples right in every label: rows 2 and 3 -> subset accuracy 2/4.
#   label 0: TP 2 -> P R F1 1, support 2;  label 1: TP 2 -> 1, support 2;  label 2: TP 0, FP 1, FN 1 -> 0, support 1
# micro: TP 4, FP 1, FN 1 -> P 4/5, R 4/5, F1 8 / (8 + 1 + 1) = 4/5; macro F1 over labels 0..2 = (1 + 1 + 0) / 3
ML_TRUE = [[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
ML_PRED = [[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]]


def test_multilabel_by_hand():
    r = multilabel_report(np.array(ML_TRUE), np.array(ML_PRED))
    assert r["accuracy"] == pytest.approx(1 / 2)
    assert r["hamming_accuracy"] == pytest.approx(7 / 8)
    assert r["micro_precision"] == r["micro_recall"] == r["micro_f1"] == pytest.approx(4 / 5)
    assert r["macro_f1"] == pytest.approx(2 / 3)
    assert per_class(r, "f1") == pytest.approx([1, 1, 0, 0])
    assert per_class(r, "support") == [2, 2, 1, 0]
    assert r["weighted_f1"] == pytest.approx(4 / 5)  # (2·1 + 2·1 + 1·0) / 5
    assert r["count"] == 4 and r["num_classes"] == 4
    json.dumps(r)


def test_multilabel_accepts_bool_and_rejects_scores():
    a = multilabel_report(np.array(ML_TRUE, dtype=bool), np.array(ML_PRED, dtype=bool))
    assert a == multilabel_report(ML_TRUE, ML_PRED)
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel_report(ML_TRUE, np.full((4, 4), 0.7))
    with pytest.raises(ValueError, match="same shape"):
        multilabel_report(ML_TRUE, [[1, 0, 1]])
    with pytest.raises(ValueError, match="at least one example"):
        multilabel_report(np.zeros((0, 3)), np.zeros((0, 3)))


# --- the text table ---------------------------------------------------------------------------------------------

def test_format_report_shows_names_numbers_and_the_confusion_matrix():
    text = format_report(classification_report(Y_TRUE, Y_PRED, 3), NAMES)
    lines = text.splitlines()
    dog = next(line for line in lines if line.strip().startswith("dog"))
    assert dog.split() == ["dog", "0.67", "1.00", "0.80", "2"]
    acc = next(line for line in lines if line.strip().startswith("accuracy"))
    assert acc.split() == ["accuracy", "0.71", "7"]
    macro = next(line for line in lines if line.strip().startswith("macro avg"))
    assert macro.split() == ["macro", "avg", f"{7 / 9:.2f}", f"{13 / 18:.2f}", f"{32 / 45:.2f}", "7"]
    assert any(line.strip().startswith("weighted avg") for line in lines)
    header = next(i for i, line in enumerate(lines) if line.startswith("true \\ predicted"))
    assert lines[header].split()[-3:] == NAMES
    assert [line.split() for line in lines[header + 1: header + 4]] == [
        ["cat", "2", "1", "0"], ["dog", "0", "2", "0"], ["bird", "1", "0", "1"]]


def test_format_report_cuts_long_names_and_keeps_columns_aligned():
    long = "a class name far too long for any sensible table column"
    text = format_report(classification_report(Y_TRUE, Y_PRED, 3), [long, "dog", "bird"])
    assert long not in text and long[:20] in text and "…" in text
    rows = [line for line in text.splitlines() if line.endswith(("3", "2")) and "0." in line]
    assert len(rows) == 3 and len({len(line) for line in rows}) == 1  # right-aligned to one width
    assert "numbered as the rows" in text  # long names: the matrix columns are headed by class numbers


def test_format_report_leaves_a_wide_confusion_matrix_to_the_png():
    K = 31
    y = np.arange(K)
    text = format_report(classification_report(y, y, K), [f"c{k}" for k in range(K)])
    assert "c30" in text and "PNG" in text
    assert "true \\ predicted" not in text


def test_format_report_of_a_multilabel_report():
    text = format_report(multilabel_report(ML_TRUE, ML_PRED), ["a", "b", "c", "d"])
    micro = next(line for line in text.splitlines() if line.strip().startswith("micro avg"))
    assert micro.split() == ["micro", "avg", "0.80", "0.80", "0.80", "5"]
    assert "subset accuracy 0.5000" in text and "hamming accuracy 0.8750" in text
    assert "confusion" not in text
    with pytest.raises(ValueError, match="3 names for a report of 4 classes"):
        format_report(multilabel_report(ML_TRUE, ML_PRED), ["a", "b", "c"])


# --- the picture ------------------------------------------------------------------------------------------------

def _random_confusion(K, n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, K, n))
    return classification_report(y, p, K)["confusion"]


def test_plot_confusion_writes_a_readable_png_that_grows_with_k(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    shapes = {}
    for K in (3, 20):
        path = tmp_path / f"confusion{K}.png"
        assert plot_confusion(_random_confusion(K, 50 * K), [f"class {k}" for k in range(K)], path,
                              title="confusion matrix (accuracy 70%)")
        pixels = image.imread(path)
        h, w = pixels.shape[:2]
        assert 0.75 < h / w < 1.1  # a square matrix, plus the colour bar on the right
        assert pixels[..., :3].std() > 0.05  # not a blank canvas
        shapes[K] = (h, w)
    assert shapes[20][0] > 1.5 * shapes[3][0]  # more classes, a bigger figure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion20.png", "confusion3.png"]  # no temp left


def test_plot_confusion_counts_and_empty_rows(tmp_path):
    pytest.importorskip("matplotlib")
    confusion = [[5, 0], [0, 0]]  # class 1 has no examples: its row is all zero, not NaN
    assert plot_confusion(confusion, ["yes", "no"], tmp_path / "a.png", normalize=False)
    assert plot_confusion(confusion, ["yes", "no"], tmp_path / "b.png")
    with pytest.raises(ValueError, match="square"):
        plot_confusion([[1, 2, 3]], ["a"], tmp_path / "c.png")
    with pytest.raises(ValueError, match="1 names for a 2×2"):
        plot_confusion(confusion, ["a"], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plot_confusion_without_matplotlib_warns_and_returns_false(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    with pytest.warns(UserWarning, match="matplotlib is not installed"):
        assert plot_confusion([[1, 0], [0, 1]], ["a", "b"], tmp_path / "c.png") is False
    assert not (tmp_path / "c.png").exists()
