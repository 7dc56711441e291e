"""A BERT-style encoder (Devlin et al. 2019): masked-LM pretraining, then fine-tuning heads.

- :class:`BertBackbone`: token + position + segment embeddings, LayerNorm, a stack of post-norm
  :class:`~keraslab.layers.TransformerEncoder` blocks (GELU). Reused as is by the classifier
  (:class:`keraslab.models.text_classifier.TextClassifier`) and the token tagger below.
- :func:`mask_tokens`: the paper's corruption: 15% of the (non-special) tokens are chosen; of
  those 80% become ``[MASK]``, 10% a random token, 10% stay; the loss is computed at the chosen
  positions only.
- :class:`BertPretrainer`: the backbone plus the masked-LM head (dense + GELU + LayerNorm, output
  tied to the token embedding) and, optionally, the next-sentence head on ``[CLS]``.
- :class:`TokenTagger`: the backbone plus a per-token softmax (e.g. named entities).

Reference: J. Devlin et al. "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", NAACL 2019. https://arxiv.org/abs/1810.04805
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keraslab.data.masking import gather_masked, mask_tokens  # noqa: F401 - their old home
from keraslab.engine import Batch, Phase, PhasedModel, no_grad
from keraslab.layers import EmbeddingNoise, PositionEmbedding, TransformerEncoder

# Shared with other models in keraslab.models.losses; still importable from here (re-export).
from keraslab.models.losses import masked_token_loss, token_count

_INIT = keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keraslab")
class BertBackbone(keras.layers.Layer):
    """Token + position + segment embeddings and a Transformer encoder stack.

    Args:
        vocabulary_size: int.
        sequence_length: int. Longest input.
        embedding_dim: int. Model width (``hidden_size``).
        num_heads: int.
        intermediate_dim: int. Feed-forward width.
        num_layers: int.
        dropout: float.
        num_segments: int. Segment (token type) vocabulary: 2 for sentence pairs.
        pad_id: int. Padding id; padded keys are masked out of attention.
        embedding_noise: float. In training, Gaussian noise of this size relative to each
            normalised embedding (:class:`~keraslab.layers.EmbeddingNoise`); 0: none.

    Call args:
        token_ids: ``(batch, length)`` int.
        segment_ids: ``(batch, length)`` int, or None (all segment 0).

    Returns:
        ``(batch, length, embedding_dim)``; position 0 is the ``[CLS]`` summary when inputs start
        with it.

    Example:
        >>> backbone = BertBackbone(8000, 64, embedding_dim=128, num_layers=2)
        >>> h = backbone(ids, segment_ids)
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int = 64,
        embedding_dim: int = 128,
        num_heads: int = 4,
        intermediate_dim: int = 512,
        num_layers: int = 2,
        dropout: float = 0.1,
        num_segments: int = 2,
        pad_id: int = 0,
        embedding_noise: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.num_segments = int(num_segments)
        self.pad_id = int(pad_id)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, embeddings_initializer=_INIT, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            sequence_length, initializer=_INIT, name="position_embedding"
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments, embedding_dim, embeddings_initializer=_INIT, name="segment_embedding"
        )
        self.embedding_norm = keras.layers.LayerNormalization(epsilon=1e-12, name="embedding_norm")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.embedding_noise = float(embedding_noise)
        # made only when used: its seed state would change the weights of every other model
        self.noise = (
            EmbeddingNoise(embedding_noise, name="embedding_noise") if embedding_noise else None
        )
        self.blocks = [
            TransformerEncoder(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                norm_first=False,
                activation="gelu",
                layer_norm_epsilon=1e-12,
                name=f"encoder_{i}",
            )
            for i in range(num_layers)
        ]

    def build(self, input_shape):
        ids = np.zeros((1, 2), "int32")
        self.call(ids)  # creates every sublayer's weights
        self.built = True

    def call(self, token_ids, segment_ids=None, training=None):
        mask = ops.not_equal(token_ids, self.pad_id)
        x = self.token_embedding(token_ids)
        x = x + self.position_embedding(x)
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        x = x + self.segment_embedding(segment_ids)
        x = self.embedding_norm(x)
        if self.noise is not None:
            x = self.noise(x, training=training)
        x = self.embedding_dropout(x, training=training)
        for block in self.blocks:
            x = block(x, padding_mask=mask, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "num_segments": self.num_segments,
            "pad_id": self.pad_id,
            **({"embedding_noise": self.embedding_noise} if self.embedding_noise else {}),
        }


@keras.saving.register_keras_serializable(package="keraslab")
class BertPretrainer(PhasedModel):
    """Masked-LM (and optional next-sentence) pretraining of a :class:`BertBackbone`.

    Batches: ``x = (inputs, segment_ids)``, ``y = (labels, weights)`` from :func:`mask_tokens`;
    with ``next_sentence=True``, ``y = (labels, weights, is_next)`` where ``is_next`` is 1 when
    segment B really followed segment A. Faster: ``x = (inputs, segment_ids, positions)`` with
    ``labels``/``weights`` at those positions only (:func:`gather_masked`), so the
    vocabulary-sized output layer runs on ~15% of the tokens.

    Args:
        backbone_args: keyword arguments of :class:`BertBackbone`.
        next_sentence: bool. Add the next-sentence prediction head and loss.

    Example:
        >>> model = BertPretrainer(vocabulary_size=8000, sequence_length=64)
        >>> model.compile(optimizers={"mlm": keras.optimizers.AdamW(5e-4)})
        >>> model.fit((masked, segments), (labels, weights), epochs=5)
    """

    def __init__(
        self, next_sentence: bool = False, name=None, trainable: bool = True, **backbone_args
    ):
        super().__init__(name=name, trainable=trainable)
        self.backbone_args = dict(backbone_args)
        self.next_sentence = bool(next_sentence)
        self.backbone = BertBackbone(**backbone_args, name="backbone")
        dim = self.backbone.embedding_dim
        self.mlm_dense = keras.layers.Dense(
            dim, activation="gelu", kernel_initializer=_INIT, name="mlm_dense"
        )
        self.mlm_norm = keras.layers.LayerNormalization(epsilon=1e-12, name="mlm_norm")
        self.mlm_bias = self.add_weight(
            name="mlm_bias", shape=(self.backbone.vocabulary_size,), initializer="zeros"
        )
        if self.next_sentence:
            self.pooler = keras.layers.Dense(
                dim, activation="tanh", kernel_initializer=_INIT, name="pooler"
            )
            self.nsp_head = keras.layers.Dense(2, kernel_initializer=_INIT, name="nsp_head")
        with no_grad():
            self((np.ones((1, 2), "int32"), np.zeros((1, 2), "int32")))

    def call(self, inputs, training=None):
        """MLM logits ``(batch, length or positions, vocabulary)`` (and NSP logits)."""
        token_ids, segment_ids, *positions = inputs
        h = self.backbone(token_ids, segment_ids, training=training)
        picked = h
        if positions:
            index = ops.cast(positions[0], "int32")[..., None]
            picked = ops.take_along_axis(
                h, ops.broadcast_to(index, (*ops.shape(index)[:2], ops.shape(h)[-1])), axis=1
            )
        z = self.mlm_norm(self.mlm_dense(picked))
        table = ops.convert_to_tensor(self.backbone.token_embedding.embeddings)
        logits = ops.matmul(z, ops.transpose(table)) + self.mlm_bias
        if not self.next_sentence:
            return logits
        return logits, self.nsp_head(self.pooler(h[:, 0]))

    def phases(self):
        metrics = ("mlm_accuracy",) + (("nsp_loss", "nsp_accuracy") if self.next_sentence else ())
        return [
            Phase(
                "mlm",
                self.trainable_variables,
                self.optimizers["mlm"],
                self.pretraining_loss,
                metrics=metrics,
                batch_weight=self._masked_positions,
            )
        ]

    def _masked_positions(self, batch):
        """Total weight of the masked positions (a batch's weight in the evaluation means)."""
        return ops.sum(ops.cast(batch.y[1], "float32"))

    def _masked_lm(self, batch):
        """Masked-LM loss and accuracy of a batch, and the next-sentence logits (or None)."""
        out = self(batch.x, training=batch.training)
        logits, nsp_logits = out if self.next_sentence else (out, None)
        labels, weights = batch.y[0], batch.y[1]
        loss, accuracy = masked_token_loss(labels, logits, weights)
        return loss, accuracy, nsp_logits

    def pretraining_loss(self, batch):
        loss, acc, nsp_logits = self._masked_lm(batch)
        if not self.next_sentence:
            return loss, {"mlm_accuracy": acc}
        is_next = batch.y[2]
        nsp_loss, nsp_acc = masked_token_loss(is_next, nsp_logits, ops.ones_like(is_next))
        return loss + nsp_loss, {"mlm_accuracy": acc, "nsp_loss": nsp_loss, "nsp_accuracy": nsp_acc}

    def evaluate_loss(
        self, inputs, segment_ids, labels, weights, positions=None
    ) -> tuple[float, float, float]:
        """Masked-LM loss, accuracy and the masked-token count of one batch (no dropout).

        The masked-LM part of the phase loss in evaluation mode. Over many batches,
        ``evaluate(batches)`` gives the same token-weighted means as ``mlm_loss`` and
        ``mlm_accuracy`` without next-sentence prediction (with it, ``mlm_loss`` also holds
        the next-sentence loss, and this method stays the way to get the masked-LM part alone).
        """
        x = (inputs, segment_ids) if positions is None else (inputs, segment_ids, positions)
        with no_grad():
            loss, acc, _ = self._masked_lm(Batch(x, (labels, weights), training=False))
        return (
            float(ops.convert_to_numpy(loss)),
            float(ops.convert_to_numpy(acc)),
            float(np.sum(weights)),
        )

    def get_config(self):
        return {**super().get_config(), "next_sentence": self.next_sentence, **self.backbone_args}


@keras.saving.register_keras_serializable(package="keraslab")
class TokenTagger(PhasedModel):
    """A :class:`BertBackbone` with a per-token softmax: one label per token (e.g. NER, POS).

    Batches: ``x = token_ids`` (or ``(token_ids, segment_ids)``), ``y = tags (batch, length)``;
    padding positions (``pad_id`` in ``x``) count neither in the loss nor in the accuracy.

    Args:
        num_tags: int.
        backbone_args: keyword arguments of :class:`BertBackbone`.

    Example:
        >>> tagger = TokenTagger(num_tags=9, vocabulary_size=8000, sequence_length=64)
        >>> tagger.backbone.set_weights(pretrained.backbone.get_weights())   # from bert-mlm
        >>> tagger.compile(optimizers={"tagger": keras.optimizers.Adam(1e-4)})
    """

    def __init__(
        self, num_tags: int, dropout: float = 0.1, name=None, trainable: bool = True,
        **backbone_args,
    ):  # fmt: skip
        super().__init__(name=name, trainable=trainable)
        self.num_tags = int(num_tags)
        self.backbone_args = dict(backbone_args)
        self.backbone = BertBackbone(**backbone_args, dropout=dropout, name="backbone")
        self.head_dropout = keras.layers.Dropout(dropout)
        self.head = keras.layers.Dense(num_tags, kernel_initializer=_INIT, name="tags")
        self.dropout = dropout
        with no_grad():
            self(np.ones((1, 2), "int32"))

    def call(self, inputs, training=None):
        ids, segments = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        h = self.backbone(ids, segments, training=training)
        return self.head(self.head_dropout(h, training=training))

    def phases(self):
        return [
            Phase(
                "tagger",
                self.trainable_variables,
                self.optimizers["tagger"],
                self.tagging_loss,
                metrics=("accuracy",),
                batch_weight=self._tagged_tokens,
            )
        ]

    def _tagged_tokens(self, batch):
        """Number of non-padding tokens in a batch (its weight in the evaluation means)."""
        ids = batch.x[0] if isinstance(batch.x, (tuple, list)) else batch.x
        return token_count(ids, self.backbone.pad_id)

    def tagging_loss(self, batch):
        ids = batch.x[0] if isinstance(batch.x, (tuple, list)) else batch.x
        weights = ops.cast(ops.not_equal(ids, self.backbone.pad_id), "float32")
        logits = self(batch.x, training=batch.training)
        loss, acc = masked_token_loss(batch.y, logits, weights)
        return loss, {"accuracy": acc}

    def get_config(self):
        return {
            **super().get_config(),
            "num_tags": self.num_tags,
            "dropout": self.dropout,
            **self.backbone_args,
        }
