"""Macro-F1, per-class recall and the confusion matrix against scikit-learn and a hand count."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix as sk_cm
from sklearn.metrics import f1_score, precision_recall_fscore_support

from keraslab.metrics.classification import (
    classification_scores,
    confusion_matrix,
    save_confusion_matrix,
)


def test_hand_counted_example():
    y = [0, 0, 0, 1, 1, 2]
    p = [0, 0, 1, 1, 0, 1]  # class 2 never predicted
    s = classification_scores(y, p, ["neg", "neu", "pos"])
    assert s["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    # neg: P 2/3, R 2/3, F1 2/3; neu: P 1/3, R 1/2, F1 0.4; pos: 0.
    assert np.isclose(s["macro_f1"], (2 / 3 + 0.4 + 0) / 3)
    assert np.isclose(s["per_class"]["neu"]["recall"], 0.5)
    assert s["per_class"]["pos"]["support"] == 1
    assert np.isclose(s["accuracy"], 0.5)


def test_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(0)
    y = rng.choice(4, 500, p=[0.5, 0.3, 0.15, 0.05])
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 4, 500))
    s = classification_scores(y, p, list("abcd"))
    np.testing.assert_array_equal(confusion_matrix(y, p, 4), sk_cm(y, p, labels=range(4)))
    assert np.isclose(s["macro_f1"], f1_score(y, p, average="macro", zero_division=0))
    prec, rec, f1, sup = precision_recall_fscore_support(y, p, zero_division=0)
    for i, c in enumerate("abcd"):
        assert np.isclose(s["per_class"][c]["recall"], rec[i])
        assert np.isclose(s["per_class"][c]["precision"], prec[i])


def test_confusion_matrix_png(tmp_path):
    path = save_confusion_matrix([[5, 1], [2, 3]], ["a", "b"], tmp_path / "cm.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temp file left
