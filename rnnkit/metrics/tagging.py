"""Entity-level precision, recall and F1, counted as the CoNLL shared task's ``conlleval`` counts, and token
accuracy.

A predicted chunk (entity) is correct when a true chunk has the same type, start and end (chunks as
:func:`rnnkit.data.schemes.chunks` reads them from the tags of the given scheme). Over all sentences::

    precision = correct / predicted chunks     recall = correct / true chunks     F1 = 2 P R / (P + R)

micro-averaged (every chunk counts once), and per type; 0 where a denominator is 0. Token accuracy is the
fraction of tokens whose tag is exactly right (``O`` tokens included), as ``conlleval`` prints it.

Example::

    >>> r = entity_report([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    >>> r["precision"], r["recall"], round(r["token_accuracy"], 3)
    (0.0, 0.0, 0.667)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rnnkit.data.schemes import chunks
from rnnkit.metrics.classification import MetricsError


def _prf(correct: int, predicted: int, true: int) -> dict:
    p = correct / predicted if predicted else 0.0
    r = correct / true if true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": true, "predicted": predicted, "correct": correct}


def entity_report(true: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str = "iob2") -> dict:
    """Micro precision, recall, F1, ``token_accuracy`` and ``per_type`` (each type's P, R, F1, ``support`` =
    true chunks, ``predicted``, ``correct``) of predicted tag sequences against true ones."""
    if len(true) != len(predicted):
        raise MetricsError(f"{len(true)} true sentences but {len(predicted)} predicted ones")
    n_true: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_correct: Counter[str] = Counter()
    tokens = right = 0
    for k, (t, p) in enumerate(zip(true, predicted)):
        if len(t) != len(p):
            raise MetricsError(f"sentence {k}: {len(t)} true tags but {len(p)} predicted ones")
        tokens += len(t)
        right += sum(a == b for a, b in zip(t, p))
        gold, guess = set(chunks(t, scheme)), set(chunks(p, scheme))
        n_true.update(c[0] for c in gold)
        n_pred.update(c[0] for c in guess)
        n_correct.update(c[0] for c in gold & guess)
    types = sorted(set(n_true) | set(n_pred))
    report = _prf(sum(n_correct.values()), sum(n_pred.values()), sum(n_true.values()))
    report["token_accuracy"] = right / tokens if tokens else 0.0
    report["tokens"] = tokens
    report["per_type"] = {ty: _prf(n_correct[ty], n_pred[ty], n_true[ty]) for ty in types}
    return report


def format_entity_report(report: dict) -> str:
    """The per-type table (precision, recall, F1, true and predicted entities) and the micro-average."""
    rows = [(ty, r) for ty, r in report["per_type"].items()] + [("all (micro)", report)]
    width = max([len("type")] + [len(name) for name, _ in rows])
    lines = [f"{'type':<{width}}  precision  recall      f1    true  predicted"]
    for name, r in rows:
        if name == "all (micro)":
            lines.append("-" * len(lines[0]))
        lines.append(f"{name:<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:6.4f}  "
                     f"{r['support']:6d}  {r['predicted']:9d}")
    lines.append(f"token accuracy {report['token_accuracy']:.4f} over {report['tokens']:,} tokens")
    return "\n".join(lines)


NONE = "(none)"


def entity_confusion(true: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                     scheme: str = "iob2") -> tuple[list[list[int]], list[str]]:
    """Which type each true entity was given: ``(C, names)`` with ``names`` the types and ``"(none)"``, and
    ``C[i][j]`` the number of entities of true type i predicted, on exactly their tokens, as type j (column
    ``(none)``: no prediction on exactly that span, i.e. missed); row ``(none)`` counts predictions with no
    true entity on their span (spurious)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for t, p in zip(true, predicted):
        gold = {(s, e): ty for ty, s, e in chunks(t, scheme)}
        guess = {(s, e): ty for ty, s, e in chunks(p, scheme)}
        for span, ty in gold.items():
            pairs[ty, guess.get(span, NONE)] += 1
        for span, ty in guess.items():
            if span not in gold:
                pairs[NONE, ty] += 1
    names = sorted(({a for a, _ in pairs} | {b for _, b in pairs}) - {NONE}) + [NONE]
    index = {n: i for i, n in enumerate(names)}
    C = [[0] * len(names) for _ in names]
    for (a, b), n in pairs.items():
        C[index[a]][index[b]] += n
    return C, names
