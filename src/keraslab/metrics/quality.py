"""Is a generated digit recognisable? Scores from keraslab's shipped domain classifier.

For images ``x`` with class probabilities ``p(y|x)`` from the classifier:

- ``score``: the Inception-Score-style ``exp(E_x KL(p(y|x) || p(y)))`` with ``p(y)`` the mean of
  ``p(y|x)`` over the samples (Salimans et al., 2016, with the domain classifier in place of
  InceptionV3). It is high when each image is confidently one class *and* the classes are used
  evenly: between 1 and the number of classes (real MNIST test images: about 9.6).
- ``confident``: the share of images whose top class has probability above ``threshold`` (0.9).
- ``histogram``: how many images fall in each predicted (top) class; ``classes_present`` counts
  the classes with at least one image.

Numbers are comparable only with numbers from the same classifier: put them next to the same
scores of real test images (:func:`image_quality` of them), as the recipes do.
"""

from __future__ import annotations

import numpy as np


def class_scores(probabilities, threshold: float = 0.9) -> dict:
    """Score, confident share and class histogram from class probabilities.

    Args:
        probabilities: array ``(n, classes)``; rows are probability vectors (they are
            renormalised; negative entries are an error).
        threshold: float. An image is "confident" when its top probability is above this.

    Returns:
        dict with ``score`` (float), ``confident`` (float in [0, 1]), ``histogram`` (list of int,
        one per class), ``classes_present`` (int) and ``samples`` (int).

    Example:
        >>> class_scores(np.eye(10))["score"]   # every class once, fully confident
        10.000000000000002
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (n >= 1, classes >= 2), got {p.shape}.")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueError("probabilities must be finite and non-negative.")
    p = p / p.sum(axis=1, keepdims=True)
    marginal = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    histogram = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return {
        "score": float(np.exp(terms.sum(axis=1).mean())),
        "confident": float((p.max(axis=1) > threshold).mean()),
        "histogram": [int(c) for c in histogram],
        "classes_present": int((histogram > 0).sum()),
        "samples": int(p.shape[0]),
    }


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def image_quality(classifier, images, threshold: float = 0.9) -> dict:
    """:func:`class_scores` of ``images`` under ``classifier`` (a
    :class:`~keraslab.metrics.classifier.ClassifierFeatures`)."""
    return class_scores(softmax(classifier.logits(images)), threshold)


def format_quality(q: dict, real: dict | None = None) -> str:
    """One line: ``score 8.61 (real 9.57, 90%)  confident 81% (real 97%)  classes 10/10 ...``."""
    line = f"score {q['score']:.2f}"
    if real:
        line += f" (real {real['score']:.2f}, {q['score'] / real['score']:.0%})"
    line += f"  confident {q['confident']:.0%}"
    if real:
        line += f" (real {real['confident']:.0%})"
    line += f"  classes {q['classes_present']}/{len(q['histogram'])}"
    line += "  histogram " + " ".join(str(c) for c in q["histogram"])
    return line
