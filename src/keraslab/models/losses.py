"""Losses shared by several models, written with ``keras.ops`` only (any backend, differentiable).

- :func:`masked_token_loss`: mean token cross-entropy over weighted positions (BERT's masked LM,
  the token tagger, and through :func:`masked_cross_entropy` the translator and GPT).
- :func:`masked_cross_entropy`: the same with padding labels masked out, and label smoothing.
- :func:`token_count`: the number of positions such a loss averages over (a batch's weight when
  ``evaluate()`` averages over tokens: ``Phase(batch_weight=...)``).
- :func:`focal_loss` and :class:`FocalLoss`: per-example focal loss for integer labels (Lin et
  al. 2017); :func:`sparse_crossentropy` is its ``gamma=0`` case.

Reference: T.-Y. Lin et al. "Focal Loss for Dense Object Detection", ICCV 2017.
https://arxiv.org/abs/1708.02002
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def masked_token_loss(labels, logits, weights, label_smoothing: float = 0.0):
    """Weighted mean token cross-entropy over positions with ``weights > 0``, and their accuracy.

    Args:
        labels: ``(batch, length)`` int ids (any shape matching ``logits[..., 0]``).
        logits: ``(batch, length, vocabulary)``.
        weights: ``(batch, length)``. 1 where a position counts, 0 where it does not (or any
            non-negative weight).
        label_smoothing: float. Mass spread uniformly over the vocabulary (0.1 in Vaswani et al.).

    Returns:
        ``(loss, accuracy)`` scalars: ``sum(w * nll) / sum(w)`` and ``sum(w * hit) / sum(w)``
        (0 when no position counts).
    """
    log_probs = ops.log_softmax(logits, axis=-1)
    labels = ops.cast(labels, "int32")
    nll = -ops.squeeze(ops.take_along_axis(log_probs, labels[..., None], axis=-1), -1)
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - label_smoothing * ops.mean(log_probs, axis=-1)
    weights = ops.cast(weights, nll.dtype)
    total = ops.maximum(ops.sum(weights), 1e-6)
    hits = ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), labels), nll.dtype)
    return ops.sum(nll * weights) / total, ops.sum(hits * weights) / total


def masked_cross_entropy(labels, logits, pad_id: int = 0, label_smoothing: float = 0.0):
    """Mean token cross-entropy over non-padding labels, and the masked accuracy.

    Args:
        labels: ``(batch, length)`` int ids.
        logits: ``(batch, length, vocabulary)``.
        pad_id: int. Labels equal to it count neither in the loss nor in the accuracy (-1: every
            label counts).
        label_smoothing: float. Mass spread uniformly over the vocabulary (0.1 in the paper).

    Returns:
        ``(loss, accuracy)`` scalars.
    """
    mask = ops.not_equal(ops.cast(labels, "int32"), pad_id)
    return masked_token_loss(labels, logits, mask, label_smoothing)


def token_count(labels, pad_id: int = 0):
    """Number of labels that are not ``pad_id`` (float32 scalar; -1 counts every label)."""
    return ops.sum(ops.cast(ops.not_equal(ops.cast(labels, "int32"), pad_id), "float32"))


def focal_loss(y_true, y_pred, gamma: float = 2.0, alpha=None, from_logits: bool = False):
    """Per-example focal loss ``-alpha_t (1 - p_t)^gamma log p_t`` for integer labels.

    Args:
        y_true: ``(batch,)`` integer class ids.
        y_pred: ``(batch, classes)`` probabilities (or logits with ``from_logits=True``).
        gamma: float. Focusing parameter; 0 gives (alpha-weighted) cross-entropy.
        alpha: None, or a sequence of per-class weights ``alpha_t``.

    Returns:
        ``(batch,)`` losses.
    """
    y_true = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    if from_logits:
        log_p = ops.log_softmax(y_pred, axis=-1)
    else:
        log_p = ops.log(ops.clip(y_pred, 1e-7, 1.0))
    log_pt = ops.squeeze(ops.take_along_axis(log_p, y_true[:, None], axis=-1), -1)
    pt = ops.exp(log_pt)
    loss = -ops.power(1.0 - pt, gamma) * log_pt
    if alpha is not None:
        loss = loss * ops.take(ops.convert_to_tensor(np.asarray(alpha, "float32")), y_true)
    return loss


@keras.saving.register_keras_serializable(package="keraslab")
class FocalLoss(keras.losses.Loss):
    """:func:`focal_loss` as a ``keras.losses.Loss`` (usable in any ``model.compile``).

    Args:
        gamma: float.
        alpha: None or per-class weights.
        from_logits: bool.
    """

    def __init__(self, gamma=2.0, alpha=None, from_logits=False, name="focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else [float(a) for a in alpha]
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return focal_loss(y_true, y_pred, self.gamma, self.alpha, self.from_logits)

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "alpha": self.alpha,
            "from_logits": self.from_logits,
        }


def sparse_crossentropy(y_true, y_pred):
    """Per-example cross-entropy of integer labels and probabilities."""
    return focal_loss(y_true, y_pred, gamma=0.0)
