"""Classification scores for imbalanced data: confusion matrix, per-class precision / recall / F1,
macro-F1 (every class counts the same, however rare), and a confusion-matrix picture.

Plain numpy (no Keras), so the same numbers come out on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keraslab.io import atomic_path


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts; row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, int).ravel(), np.asarray(y_pred, int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions.")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def classification_scores(y_true, y_pred, classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision, recall, F1 and support.

    A class never predicted has precision 0 (and F1 0), as scikit-learn's ``zero_division=0``.
    """
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }


def save_confusion_matrix(cm, classes: Sequence[str], path, title: str | None = None) -> Path:
    """A PNG of the confusion matrix: counts, and colour by the share of each true class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(classes), 1.2 + 1.0 * len(classes)))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{rows[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if rows[i, j] > 0.5 else "black",
                fontsize=9,
            )
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row share = recall)")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
