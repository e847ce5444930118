"""Classification metrics (single-label and multi-label), their text table, and the confusion-matrix picture.

For each class k, from the counts of true positives, false positives and false negatives:

    precision_k = TP_k / (TP_k + FP_k)        (0 when the class is never predicted)
    recall_k    = TP_k / (TP_k + FN_k)        (0 when the class has no true examples)
    F1_k        = 2 TP_k / (2 TP_k + FP_k + FN_k) = 2 P_k R_k / (P_k + R_k)   (0 when both are 0)
    support_k   = TP_k + FN_k                 (how many examples truly are k)

These are scikit-learn's conventions with ``zero_division=0``; numpy only, no scikit-learn needed.

Macro averages are plain means over the classes, *except* that a class with support 0 **and** no predictions
(absent from both the truth and the predictions) is left out: it says nothing about the model, and an
evaluation file that happens to lack some classes would otherwise have its macro F1 dragged towards 0 by
classes nobody asked about. (This matches scikit-learn's default, which averages over the labels present in
``y_true`` or ``y_pred``.) A class that is predicted but never true still counts, with recall 0 and F1 0,
and so does a class that is true but never predicted. Weighted averages weight class k by ``support_k / N``.

Example::

    >>> r = classification_report([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3)
    >>> r["accuracy"], r["confusion"]
    (0.75, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_open

TEXT_CONFUSION_MAX_CLASSES = 30  # above this the text confusion matrix is too wide to read: see the PNG
_NAME_WIDTH = 24  # longest class name shown in the text table before it is cut with "…"


class MetricsError(RnnkitError, ValueError):
    """Bad input to a metric (empty, mismatched shapes, labels out of range): a :class:`RnnkitError` for the
    command line, and a ``ValueError`` for callers that expect one."""


# --- the per-class arithmetic, shared by the single-label and multi-label reports ----------------------------

def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _per_class(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict:
    """Per-class precision, recall, F1 and support from (K,) counts, with macro and weighted averages."""
    precision = _ratio(tp, tp + fp)  # TP / (TP + FP)
    recall = _ratio(tp, tp + fn)  # TP / (TP + FN)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)  # 2 TP / (2 TP + FP + FN)
    support = tp + fn
    present = (support > 0) | (tp + fp > 0)  # classes seen in the truth or in the predictions
    macro = lambda v: float(v[present].mean()) if present.any() else 0.0
    weighted = lambda v: float(_ratio((support * v).sum(), support.sum()))  # Σ_k support_k · v_k / Σ_k support_k
    return {
        "macro_precision": macro(precision),
        "macro_recall": macro(recall),
        "macro_f1": macro(f1),
        "weighted_precision": weighted(precision),
        "weighted_recall": weighted(recall),
        "weighted_f1": weighted(f1),
        "per_class": [{"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for p, r, f, s in zip(precision, recall, f1, support)],
    }


def _labels(values, name: str) -> np.ndarray:
    """``values`` as a 1-D int64 array (lists, numpy arrays and CPU tensors all work)."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise MetricsError(f"{name} must be one label per example (1-D), got shape {a.shape}: flatten it and "
                           "drop the padding positions first")
    if a.size and not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.bool_)):
        if not (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a))):
            raise MetricsError(f"{name} must hold integer class ids, got dtype {a.dtype}: pass argmax(logits), "
                               "not the logits or probabilities")
    return a.astype(np.int64)


# --- reports -------------------------------------------------------------------------------------------------

def classification_report(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                          num_classes: int) -> dict:
    """Accuracy, per-class and averaged precision / recall / F1, and the confusion matrix of a K-class task.

    Args:
        y_true: (N,) true class ids in ``0..K-1``.
        y_pred: (N,) predicted class ids in ``0..K-1``.
        num_classes: K.

    Returns a JSON-ready dict::

        accuracy        = Σ_k C[k, k] / N
        macro_precision, macro_recall, macro_f1     means over the classes present (see the module docstring)
        weighted_precision, weighted_recall, weighted_f1     Σ_k (support_k / N) · metric_k
        per_class       [{"precision", "recall", "f1", "support"}] for k = 0..K-1
        confusion       C, K×K ints: C[i][j] = how many examples of true class i were predicted as j
        count           N
        num_classes     K

    Raises :class:`MetricsError` (a ``ValueError``) on empty input, different lengths or ids outside ``0..K-1``.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise MetricsError(f"num_classes must be a positive integer, got {num_classes!r}")
    K = int(num_classes)
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.size == 0:
        raise MetricsError("classification_report needs at least one example; y_true and y_pred are empty")
    if t.shape != p.shape:
        raise MetricsError(f"y_true has {t.size} labels but y_pred has {p.size}: they must pair up one to one")
    for name, a in (("y_true", t), ("y_pred", p)):
        bad = a[(a < 0) | (a >= K)]
        if bad.size:
            raise MetricsError(f"{name} holds class id {int(bad[0])}, outside 0..{K - 1} for num_classes={K}")
    C = np.bincount(t * K + p, minlength=K * K).reshape(K, K)  # (K, K): rows true, columns predicted
    tp = np.diag(C)
    fp = C.sum(axis=0) - tp  # predicted k, truly something else
    fn = C.sum(axis=1) - tp  # truly k, predicted something else
    N = int(t.size)
    return {"accuracy": float(tp.sum() / N), **_per_class(tp, fp, fn), "confusion": C.tolist(),
            "count": N, "num_classes": K}


def multilabel_report(Y_true: np.ndarray, Y_pred: np.ndarray) -> dict:
    """Metrics of a multi-label task, where each of N examples carries any subset of K labels.

    Args:
        Y_true: (N, K) 0/1 (or bool): ``Y_true[n, k] = 1`` when example n has label k.
        Y_pred: (N, K) 0/1 (or bool), the predictions (threshold the probabilities first).

    Returns a JSON-ready dict::

        accuracy           subset accuracy: the fraction of examples with every one of the K labels right
        hamming_accuracy   the fraction of the N·K (example, label) decisions that are right
        micro_precision, micro_recall, micro_f1     from TP, FP, FN summed over the labels first
        macro_precision, macro_recall, macro_f1     means over the labels, leaving out a label that is neither
                                                    true nor predicted anywhere (as for classification_report)
        weighted_*, per_class                       as classification_report; support_k = positives of label k
        count, num_classes                          N, K
    """
    Yt, Yp = np.asarray(Y_true), np.asarray(Y_pred)
    if Yt.ndim != 2 or Yt.shape != Yp.shape:
        raise MetricsError(f"Y_true and Y_pred must both be (N, K) arrays of the same shape, got {Yt.shape} and "
                           f"{Yp.shape}")
    if Yt.size == 0:
        raise MetricsError(f"multilabel_report needs at least one example and one label, got shape {Yt.shape}")
    for name, a in (("Y_true", Yt), ("Y_pred", Yp)):
        if not np.isin(a, (0, 1)).all():
            raise MetricsError(f"{name} must hold only 0 and 1, found {a[~np.isin(a, (0, 1))].flat[0]!r}: "
                               "threshold the scores first (e.g. probs > 0.5)")
    Yt, Yp = Yt.astype(bool), Yp.astype(bool)
    tp = (Yt & Yp).sum(axis=0)  # (K,)
    fp = (~Yt & Yp).sum(axis=0)
    fn = (Yt & ~Yp).sum(axis=0)
    TP, FP, FN = tp.sum(), fp.sum(), fn.sum()
    N, K = Yt.shape
    return {
        "accuracy": float((Yt == Yp).all(axis=1).mean()),
        "hamming_accuracy": float((Yt == Yp).mean()),
        "micro_precision": float(_ratio(TP, TP + FP)),
        "micro_recall": float(_ratio(TP, TP + FN)),
        "micro_f1": float(_ratio(2 * TP, 2 * TP + FP + FN)),
        **_per_class(tp, fp, fn),
        "count": int(N),
        "num_classes": int(K),
    }


# --- the text table ------------------------------------------------------------------------------------------

def _fit(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters, ending in "…" when it was cut."""
    name = str(name)
    return name if len(name) <= width else name[: max(width - 1, 0)] + "…"


def format_report(report: dict, names: list[str]) -> str:
    """A plain-text table of a report from :func:`classification_report` or :func:`multilabel_report`.

    Like scikit-learn's ``classification_report``: one line per class (precision, recall, f1-score, support),
    then accuracy and the macro and weighted averages (and the micro average for a multi-label report). A
    single-label report with K ≤ 30 classes is followed by its confusion matrix (true down, predicted across);
    wider ones are left to the PNG of :func:`plot_confusion`. Names longer than 24 characters are cut with "…".
    """
    rows = report["per_class"]
    if len(names) != len(rows):
        raise MetricsError(f"format_report got {len(names)} names for a report of {len(rows)} classes")
    labels = [_fit(n, _NAME_WIDTH) for n in names]
    w = max([len(s) for s in labels] + [len("weighted avg")])
    N = report["count"]
    line = lambda label, p, r, f, s: f"{label:>{w}} {p:>9} {r:>9} {f:>9} {s:>9}"
    num = lambda x: f"{x:.2f}"
    out = [line("", "precision", "recall", "f1-score", "support"), ""]
    out += [line(lab, num(c["precision"]), num(c["recall"]), num(c["f1"]), c["support"])
            for lab, c in zip(labels, rows)]
    out.append("")
    multilabel = "hamming_accuracy" in report
    total = sum(c["support"] for c in rows)  # N for single-label, the number of positives for multi-label
    if multilabel:
        out.append(line("micro avg", num(report["micro_precision"]), num(report["micro_recall"]),
                        num(report["micro_f1"]), total))
    else:
        out.append(line("accuracy", "", "", num(report["accuracy"]), N))
    for kind in ("macro", "weighted"):
        out.append(line(f"{kind} avg", num(report[f"{kind}_precision"]), num(report[f"{kind}_recall"]),
                        num(report[f"{kind}_f1"]), total))
    if multilabel:
        out += ["", f"subset accuracy {report['accuracy']:.4f}   hamming accuracy "
                    f"{report['hamming_accuracy']:.4f}   examples {N}"]
    if "confusion" in report:
        out += ["", *_format_confusion(report["confusion"], names)]
    return "\n".join(out) + "\n"


def _format_confusion(confusion: list[list[int]], names: list[str]) -> list[str]:
    """The confusion matrix as text lines: row i = true class i, column j = predicted class j."""
    K = len(confusion)
    if K > TEXT_CONFUSION_MAX_CLASSES:
        return [f"confusion matrix: {K} classes is too wide for text (more than {TEXT_CONFUSION_MAX_CLASSES}); "
                "see the confusion-matrix PNG"]
    labels = [_fit(n, _NAME_WIDTH) for n in names]
    cw = max(len(str(max(max(r) for r in confusion))), 3)  # column width: the widest count
    # columns headed by the names when they fit in 8 characters, otherwise by the class numbers of the rows
    by_name = max(len(str(n)) for n in names) <= 8
    if by_name:
        cw = max(cw, max(len(str(n)) for n in names))
        heads, rows = [str(n) for n in names], labels
    else:
        cw = max(cw, len(str(K - 1)))
        heads, rows = [str(j) for j in range(K)], [f"{i:>{len(str(K - 1))}} {lab}" for i, lab in enumerate(labels)]
    corner = "true \\ predicted"
    rw = max([len(r) for r in rows] + [len(corner)])
    out = ["confusion matrix (rows: true label, columns: predicted label"
           + ("" if by_name else ", numbered as the rows") + ")",
           f"{corner:<{rw}} " + " ".join(f"{h:>{cw}}" for h in heads)]
    out += [f"{r:<{rw}} " + " ".join(f"{c:>{cw}}" for c in counts) for r, counts in zip(rows, confusion)]
    return out


# --- the picture ---------------------------------------------------------------------------------------------

def plot_confusion(confusion: list[list[int]] | np.ndarray, names: list[str], path: str | Path,
                   title: str = "confusion matrix", normalize: bool = True) -> bool:
    """Draw the confusion matrix into ``path`` (PNG); False, with a warning, if matplotlib is missing.

    Rows are the true label and columns the predicted one. With ``normalize`` each cell's colour is its row
    fraction ``C[i, j] / Σ_j C[i, j]`` (the diagonal is then each class's recall), on a fixed 0..1 scale;
    without it the colour is the raw count. The count is written in every non-zero cell. The figure grows
    with K so that the cells, names and numbers stay readable. Put the accuracy in ``title`` to show it.
    """
    C = np.asarray(confusion, dtype=np.int64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise MetricsError(f"plot_confusion needs a square K×K confusion matrix, got shape {C.shape}")
    K = C.shape[0]
    if len(names) != K:
        raise MetricsError(f"plot_confusion got {len(names)} names for a {K}×{K} confusion matrix")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed, so no confusion-matrix PNG: pip install 'rnnkit[plot]'",
                      stacklevel=2)
        return False
    row_sums = C.sum(axis=1, keepdims=True)
    shown = _ratio(C, np.broadcast_to(row_sums, C.shape)) if normalize else C.astype(np.float64)
    vmax = 1.0 if normalize else max(float(C.max()), 1.0)
    labels = [_fit(n, 20) for n in names]

    side = min(2.2 * np.sqrt(K), 30.0)  # inches for the matrix: grows with K, its cells shrink only as 1/√K
    cell = min(side / K, 1.1)  # inches per cell
    side = cell * K
    label_room = 0.09 * max(len(s) for s in labels) + 1.2  # inches for the tick names and axis label
    fig = plt.figure(figsize=(side + label_room + 1.6, side + label_room + 0.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest", aspect="equal")
    digits = len(str(int(C.max())))
    count_size = min(13.0, 72 * cell * 0.8 / max(digits, 2) * 1.6)  # points; fits the widest count in a cell
    if count_size >= 4:
        for i, j in zip(*np.nonzero(C)):
            dark = shown[i, j] / vmax > 0.55
            ax.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=count_size,
                    color="white" if dark else "black")
    tick_size = float(np.clip(72 * cell * 0.6, 4, 11))
    ax.set_xticks(range(K), labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=tick_size)
    ax.set_yticks(range(K), labels, fontsize=tick_size)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("fraction of the true label's examples (diagonal: recall)" if normalize else "count")
    with atomic_open(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return True
