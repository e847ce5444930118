"""Entity-level metrics: equal to seqeval (conlleval's counting) on random predictions; by-hand cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rnnkit.metrics.tagging import entity_report, format_entity_report

seqeval = pytest.importorskip("seqeval.metrics")


def test_hand_computed_case():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-PER"], ["O", "B-ORG"]]
    r = entity_report(true, pred)
    # 3 true entities, 3 predicted, 2 right (PER 0-2, ORG); LOC missed, a PER invented
    assert (r["precision"], r["recall"]) == (2 / 3, 2 / 3)
    assert r["per_type"]["LOC"]["recall"] == 0 and r["per_type"]["PER"]["precision"] == 0.5
    assert r["token_accuracy"] == 5 / 6
    assert "LOC" in format_entity_report(r)


@pytest.mark.parametrize("scheme,prefixes", [("iob2", "BI"), ("iob1", "BI"), ("bioes", "BIES")])
def test_equals_seqeval_on_random_tags(scheme, prefixes):
    rng = np.random.default_rng(hash(scheme) % 2**32)
    alphabet = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "MISC")]
    for _ in range(200):
        n = int(rng.integers(1, 6))
        lengths = rng.integers(1, 12, size=n)
        true = [list(rng.choice(alphabet, size=k)) for k in lengths]
        pred = [list(rng.choice(alphabet, size=k)) for k in lengths]
        r = entity_report(true, pred, scheme)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = (seqeval.precision_score(true, pred), seqeval.recall_score(true, pred),
                    seqeval.f1_score(true, pred), seqeval.accuracy_score(true, pred))
        assert (r["precision"], r["recall"], r["f1"], r["token_accuracy"]) == pytest.approx(want, abs=1e-12)
        per_type = seqeval.classification_report(true, pred, output_dict=True, zero_division=0)
        for ty, row in r["per_type"].items():
            assert row["f1"] == pytest.approx(per_type[ty]["f1-score"], abs=1e-12)


def test_entity_confusion_counts_types_missed_and_spurious():
    from rnnkit.metrics.tagging import entity_confusion

    true = [["B-PER", "I-PER", "O", "B-LOC", "O"]]
    pred = [["B-LOC", "I-LOC", "O", "B-LOC", "I-LOC"]]         # PER called LOC; LOC's span wrong
    C, names = entity_confusion(true, pred)
    assert names == ["LOC", "PER", "(none)"]
    assert C == [[0, 0, 1],        # the true LOC: nothing on exactly its token
                 [1, 0, 0],        # the true PER: predicted as LOC
                 [1, 0, 0]]        # a spurious LOC (tokens 3-4)
