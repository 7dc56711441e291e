"""A Transformer text classifier, and the imbalance tools of the course.

:class:`TextClassifier` is a :class:`~keraslab.models.bert.BertBackbone` (token + position
embeddings, encoder blocks) followed by pooling and a softmax layer. Its one phase computes a
*per-example* loss and averages it with the batch's sample weights, so every way of weighting the
minority class goes through the same custom train step:

- class weights: ``model.fit(..., class_weight={0: 1.0, 2: 2.3})`` (Keras turns them into sample
  weights), or :func:`class_weights` for the usual inverse-frequency values;
- per-example weights: ``model.fit(x, y, sample_weight=w)`` (e.g. annotator confidence);
- a custom loss: any ``loss(y_true, y_pred) -> per-example losses``, e.g.
  :func:`keraslab.models.losses.focal_loss` or its ``keras.losses.Loss`` subclass
  :class:`~keraslab.models.losses.FocalLoss` (both also importable from this module).

Reference: T.-Y. Lin et al. "Focal Loss for Dense Object Detection", ICCV 2017.
https://arxiv.org/abs/1708.02002
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keraslab.engine import Phase, PhasedModel, no_grad
from keraslab.models.bert import BertBackbone

# Generic losses live in keraslab.models.losses; still importable from here (re-exports).
from keraslab.models.losses import FocalLoss, focal_loss, sparse_crossentropy  # noqa: F401


def class_weights(labels, num_classes: int) -> dict[int, float]:
    """``n / (num_classes * count_c)`` per class (scikit-learn's "balanced" weights)."""
    counts = np.bincount(np.asarray(labels, int), minlength=num_classes).astype(float)
    if (counts == 0).any():
        raise ValueError(f"every class needs at least one example; counts are {counts.tolist()}.")
    return {c: float(counts.sum() / (num_classes * counts[c])) for c in range(num_classes)}


@keras.saving.register_keras_serializable(package="keraslab")
class TextClassifier(PhasedModel):
    """Token ids → class probabilities, through a Transformer encoder and pooling.

    Args:
        num_classes: int.
        pooling: ``"mean"`` (over real tokens) or ``"cls"`` (position 0, as BERT).
        loss: callable ``loss(y_true, y_pred) -> (batch,)`` on probabilities (default
            cross-entropy), e.g. ``FocalLoss(gamma=2)``.
        head_dropout: float.
        encoder: ``"bert"`` (a Transformer, :class:`BertBackbone`) or ``"elmo"``
            (:class:`~keraslab.models.elmo.ELMoEncoder`: biLSTM layers mixed by learnt weights;
            ``freeze=True`` keeps the biLM fixed).
        backbone_args: keyword arguments of the encoder (vocabulary_size, sequence_length,
            embedding_dim, num_layers, dropout; BERT: num_heads, intermediate_dim).

    Batches: ``x = token_ids``, ``y = labels``, optional ``sample_weight``; the phase loss is
    ``sum(w_i * loss_i) / sum(w_i)`` (plain mean without weights).

    Example:
        >>> clf = TextClassifier(3, vocabulary_size=8000, sequence_length=64)
        >>> clf.compile(optimizers={"classifier": keras.optimizers.Adam(3e-4)})
        >>> clf.fit(ids, labels, class_weight=class_weights(labels, 3), epochs=4)
        >>> clf.load_backbone(pretrainer.backbone)   # start from a bert-mlm run instead
        >>> clf = TextClassifier(3, encoder="elmo", vocabulary_size=8000, freeze=True)
        >>> clf.load_backbone(elmo.bilm)              # ELMo features of an elmo run
    """

    def __init__(
        self,
        num_classes: int,
        pooling: str = "mean",
        loss=None,
        head_dropout: float = 0.1,
        encoder: str = "bert",
        name=None,
        trainable: bool = True,
        **backbone_args,
    ):
        super().__init__(name=name, trainable=trainable)
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}.")
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.loss_fn = loss if loss is not None else sparse_crossentropy
        self.head_dropout = float(head_dropout)
        if encoder not in ("bert", "elmo"):
            raise ValueError(f"encoder must be 'bert' or 'elmo', got {encoder!r}.")
        self.encoder = encoder
        self.backbone_args = dict(backbone_args)
        if encoder == "elmo":
            from keraslab.models.elmo import ELMoEncoder

            self.backbone = ELMoEncoder(**backbone_args, name="backbone")
        else:
            self.backbone = BertBackbone(**backbone_args, name="backbone")
        self.dropout_layer = keras.layers.Dropout(head_dropout)
        self.head = keras.layers.Dense(num_classes, activation="softmax", name="head")
        with no_grad():
            self(np.ones((1, 2), "int32"))

    def call(self, token_ids, training=None):
        h = self.backbone(token_ids, training=training)
        if self.pooling == "cls":
            pooled = h[:, 0]
        else:
            mask = ops.cast(ops.not_equal(token_ids, self.backbone.pad_id), h.dtype)[..., None]
            pooled = ops.sum(h * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
        return self.head(self.dropout_layer(pooled, training=training))

    def phases(self):
        return [
            Phase(
                "classifier",
                self.trainable_variables,
                self.optimizers["classifier"],
                self.classification_loss,
                metrics=("accuracy",),
            )
        ]

    def classification_loss(self, batch):
        probs = self(batch.x, training=batch.training)
        per_example = self.loss_fn(batch.y, probs)
        labels = ops.cast(ops.reshape(batch.y, (-1,)), "int32")
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(probs, axis=-1), "int32"), labels), "float32")
        if batch.sample_weight is None:
            return ops.mean(per_example), {"accuracy": ops.mean(hits)}
        w = ops.cast(ops.reshape(batch.sample_weight, (-1,)), per_example.dtype)
        total = ops.maximum(ops.sum(w), 1e-6)
        return ops.sum(per_example * w) / total, {"accuracy": ops.mean(hits)}

    def predict_proba(self, token_ids, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(n, num_classes)``, no dropout, in batches."""
        out = []
        with no_grad():
            for i in range(0, len(token_ids), batch_size):
                out.append(ops.convert_to_numpy(self(token_ids[i : i + batch_size])))
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), "float32")

    def load_backbone(self, backbone) -> None:
        """Copy a pretrained backbone's weights (same architecture) into this classifier: a
        :class:`BertBackbone`, or for ``encoder="elmo"`` an ELMo run's ``BiLM``."""
        target = self.backbone.bilm if self.encoder == "elmo" else self.backbone
        mine, theirs = target.weights, backbone.weights
        shapes = [tuple(w.shape) for w in mine], [tuple(w.shape) for w in theirs]
        if shapes[0] != shapes[1]:
            raise ValueError(
                "the pretrained backbone has a different architecture "
                f"({len(theirs)} weights vs {len(mine)}, or different shapes)."
            )
        for a, b in zip(mine, theirs):
            a.assign(b)

    def get_config(self):
        loss = None if self.loss_fn is sparse_crossentropy else self.loss_fn
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "pooling": self.pooling,
            "loss": None if loss is None else keras.saving.serialize_keras_object(loss),
            "head_dropout": self.head_dropout,
            "encoder": self.encoder,
            **self.backbone_args,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("loss") is not None:  # e.g. a FocalLoss: a reloaded model trains the same
            config["loss"] = keras.saving.deserialize_keras_object(config["loss"])
        return cls(**config)
