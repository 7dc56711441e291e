"""ELMo: contextual token vectors from a bidirectional LSTM language model (Peters et al. 2018).

- :class:`BiLM`: a token embedding, then ``num_layers`` forward LSTMs reading left to right and
  ``num_layers`` backward LSTMs reading right to left. The directions are separate stacks (as in
  the paper), so the forward state at ``t`` has seen tokens ``0..t`` only and the backward state
  tokens ``t..n-1`` only: each direction is a language model on its own. Layers after the first
  add their input back (residual, as the paper's second layer).
- :class:`ELMo`: the pretrainer, a :class:`BiLM` whose two directions share one softmax tied to
  the token embedding (plus a bias): the forward state at ``t`` predicts token ``t+1``, the
  backward state token ``t-1``; the phase loss is the mean of the two directions' cross-entropy.
- :class:`ScalarMix`: the task-specific combination of the ``L + 1`` layers (eq. 1 of the paper),
  ``gamma * sum_j softmax(s)_j h_j``, a Keras layer usable in any model.
- :class:`ELMoEncoder`: a :class:`BiLM` plus a :class:`ScalarMix`, token ids to one
  ``(batch, length, 2 * units)`` vector per token; the text classifier's encoder for
  ``--init ELMO_RUN``.

Layer ``0`` is the token embedding repeated for both directions (``[x; x]``); layer ``j`` is
``[forward_j; backward_j]``. Sequences are right-padded with ``pad_id``: the backward direction
reverses every row within its own length, so padding never reaches a real token's vector.

Reference: M. E. Peters et al. "Deep contextualized word representations", NAACL 2018.
https://arxiv.org/abs/1802.05365
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keraslab.engine import Phase, PhasedModel, no_grad
from keraslab.models.losses import masked_cross_entropy, token_count


def reverse_within_length(x, lengths):
    """Each row of ``x`` (batch, time, ...) reversed over its first ``lengths[i]`` steps; the
    steps after (padding) stay in place. Its own inverse."""
    time = ops.shape(x)[1]
    steps = ops.arange(time, dtype="int32")[None, :]
    lengths = ops.cast(lengths, "int32")[:, None]
    index = ops.where(steps < lengths, lengths - 1 - steps, steps)  # (batch, time)
    if len(x.shape) == 2:
        return ops.take_along_axis(x, index, axis=1)
    return ops.take_along_axis(x, index[..., None], axis=1)


@keras.saving.register_keras_serializable(package="keraslab")
class ScalarMix(keras.layers.Layer):
    """``gamma * sum_j softmax(s)_j * h_j`` over a list of equally shaped tensors (ELMo eq. 1).

    Args:
        num_inputs: int. Number of layers mixed (``L + 1`` for an L-layer biLM).
        trainable_gamma: bool. Learn the scale ``gamma`` (else fixed at 1).

    The weights ``s`` start at 0 (an equal average) and ``gamma`` at 1.

    Example:
        >>> mix = ScalarMix(3)
        >>> vectors = mix([h0, h1, h2])        # each (batch, length, dim)
    """

    def __init__(self, num_inputs: int, trainable_gamma: bool = True, **kwargs):
        super().__init__(**kwargs)
        if int(num_inputs) < 1:
            raise ValueError(f"num_inputs must be at least 1, got {num_inputs}.")
        self.num_inputs = int(num_inputs)
        self.trainable_gamma = bool(trainable_gamma)
        self.scalars = self.add_weight(
            name="scalars", shape=(self.num_inputs,), initializer="zeros"
        )
        self.gamma = self.add_weight(
            name="gamma", shape=(), initializer="ones", trainable=self.trainable_gamma
        )

    def call(self, inputs):
        if len(inputs) != self.num_inputs:
            raise ValueError(f"ScalarMix expects {self.num_inputs} inputs, got {len(inputs)}.")
        weights = ops.softmax(self.scalars)
        mixed = sum(weights[j] * inputs[j] for j in range(self.num_inputs))
        return self.gamma * mixed

    def layer_weights(self) -> np.ndarray:
        """The normalised weights ``softmax(s)`` (what each layer contributes)."""
        return ops.convert_to_numpy(ops.softmax(self.scalars))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "num_inputs": self.num_inputs,
            "trainable_gamma": self.trainable_gamma,
        }


@keras.saving.register_keras_serializable(package="keraslab")
class BiLM(keras.layers.Layer):
    """Token embedding and the two LSTM stacks of ELMo; returns every layer's states.

    Args:
        vocabulary_size: int.
        sequence_length: int. Longest input the recipes feed (the LSTMs take any length).
        embedding_dim: int. Token vectors; also each LSTM's width (so layers add up).
        num_layers: int. LSTM layers per direction.
        dropout: float. Between layers, in training.
        pad_id: int. Padding id (right padding).

    ``call(ids)`` returns ``(forward, backward, embedded)``: two lists of ``num_layers``
    tensors ``(batch, length, embedding_dim)`` and the embedded tokens.
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int = 64,
        embedding_dim: int = 128,
        num_layers: int = 2,
        dropout: float = 0.1,
        pad_id: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.pad_id = int(pad_id)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05),
            name="token_embedding",
        )
        self.forward_lstms = [
            keras.layers.LSTM(embedding_dim, return_sequences=True, name=f"forward_{i}")
            for i in range(num_layers)
        ]
        self.backward_lstms = [
            keras.layers.LSTM(embedding_dim, return_sequences=True, name=f"backward_{i}")
            for i in range(num_layers)
        ]
        self.drop = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        shape = (*tuple(input_shape), self.embedding_dim)
        for lstm in self.forward_lstms + self.backward_lstms:
            lstm.build(shape)
        self.built = True

    def lengths(self, ids):
        return ops.sum(ops.cast(ops.not_equal(ops.cast(ids, "int32"), self.pad_id), "int32"), 1)

    def _stack(self, x, lstms, training):
        states = []
        for i, lstm in enumerate(lstms):
            h = lstm(self.drop(x, training=training), training=training)
            x = h if i == 0 else h + x  # residual from the second layer on
            states.append(x)
        return states

    def call(self, ids, training=None):
        embedded = self.token_embedding(ids)
        forward = self._stack(embedded, self.forward_lstms, training)
        lengths = self.lengths(ids)
        reversed_states = self._stack(
            reverse_within_length(embedded, lengths), self.backward_lstms, training
        )
        backward = [reverse_within_length(h, lengths) for h in reversed_states]
        return forward, backward, embedded

    def layer_outputs(self, ids, training=None) -> list:
        """The ``num_layers + 1`` ELMo layers ``(batch, length, 2 * embedding_dim)``:
        ``[x; x]``, then ``[forward_j; backward_j]``."""
        forward, backward, embedded = self(ids, training=training)
        layers = [ops.concatenate([embedded, embedded], axis=-1)]
        layers += [ops.concatenate([f, b], axis=-1) for f, b in zip(forward, backward)]
        return layers

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "pad_id": self.pad_id,
        }


@keras.saving.register_keras_serializable(package="keraslab")
class ELMo(PhasedModel):
    """The bidirectional language model pretrainer: a :class:`BiLM` and a tied softmax.

    Args: those of :class:`BiLM`.

    Batches: ``x = token ids`` (batch, length), right-padded; no labels (each direction's
    targets are the input shifted by one). The phase ``"elmo"`` minimises the mean of the
    forward and backward cross-entropy; ``forward_loss`` and ``backward_loss`` are logged.

    Example:
        >>> lm = ELMo(vocabulary_size=8000)
        >>> lm.compile(optimizers={"elmo": keras.optimizers.Adam(1e-3)})
        >>> lm.fit(ids, epochs=5)
        >>> layers = lm.bilm.layer_outputs(ids)          # L + 1 tensors (batch, length, 2d)
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int = 64,
        embedding_dim: int = 128,
        num_layers: int = 2,
        dropout: float = 0.1,
        pad_id: int = 0,
        name=None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.bilm_args = dict(
            vocabulary_size=int(vocabulary_size),
            sequence_length=int(sequence_length),
            embedding_dim=int(embedding_dim),
            num_layers=int(num_layers),
            dropout=float(dropout),
            pad_id=int(pad_id),
        )
        self.bilm = BiLM(**self.bilm_args, name="bilm")
        self.output_bias = self.add_weight(
            name="output_bias", shape=(int(vocabulary_size),), initializer="zeros"
        )
        with no_grad():
            self(np.ones((1, 2), "int32"))

    @property
    def pad_id(self) -> int:
        return self.bilm.pad_id

    @property
    def sequence_length(self) -> int:
        return self.bilm.sequence_length

    def _logits(self, h):
        table = ops.convert_to_tensor(self.bilm.token_embedding.embeddings)
        return ops.matmul(h, ops.transpose(table)) + self.output_bias

    def call(self, ids, training=None):
        """``(forward_logits, backward_logits)``: at position t, of token t+1 and of t-1."""
        forward, backward, _ = self.bilm(ids, training=training)
        return self._logits(forward[-1]), self._logits(backward[-1])

    def targets(self, ids):
        """Next tokens (forward) and previous tokens (backward); ``pad_id`` where none."""
        ids = ops.cast(ids, "int32")
        pad = ops.full_like(ids[:, :1], self.pad_id)
        return (
            ops.concatenate([ids[:, 1:], pad], axis=1),
            ops.concatenate([pad, ids[:, :-1]], axis=1),
        )

    def direction_losses(self, ids, training=None):
        """Mean cross-entropy (nats per predicted token) of each direction."""
        forward_logits, backward_logits = self(ids, training=training)
        next_ids, previous_ids = self.targets(ids)
        forward, _ = masked_cross_entropy(next_ids, forward_logits, self.pad_id)
        backward, _ = masked_cross_entropy(previous_ids, backward_logits, self.pad_id)
        return forward, backward

    def phases(self):
        return [
            Phase(
                "elmo",
                self.trainable_variables,
                self.optimizers["elmo"],
                self.language_model_loss,
                metrics=("forward_loss", "backward_loss"),
                batch_weight=lambda batch: token_count(self.targets(batch.x)[0], self.pad_id),
            )
        ]

    def language_model_loss(self, batch):
        forward, backward = self.direction_losses(batch.x, training=batch.training)
        return (forward + backward) / 2, {"forward_loss": forward, "backward_loss": backward}

    def evaluate_losses(self, ids) -> tuple[float, float, int]:
        """Summed forward and backward negative log-likelihood (nats) of a batch (no dropout),
        and the number of predicted tokens per direction."""
        with no_grad():
            forward, backward = self.direction_losses(ids, training=False)
        count = int(np.sum(np.asarray(ids) != self.pad_id) - len(ids))
        count = max(count, 0)
        f, b = float(ops.convert_to_numpy(forward)), float(ops.convert_to_numpy(backward))
        return f * count, b * count, count

    def get_config(self):
        return {**super().get_config(), **self.bilm_args}


@keras.saving.register_keras_serializable(package="keraslab")
class ELMoEncoder(keras.layers.Layer):
    """Token ids to ELMo vectors: a :class:`BiLM` and a :class:`ScalarMix` of its layers.

    Args: those of :class:`BiLM`, plus ``freeze`` (bool): the biLM's weights stay fixed, only
    the mix learns (the paper's recipe); else they are fine-tuned with the task. And
    ``normalize`` (bool): each layer scaled to zero mean and unit variance per token before the
    mix (the paper's "layer normalization of each biLM layer", no parameters), so a small
    head sees inputs of one scale.

    ``call(ids)`` gives ``(batch, length, 2 * embedding_dim)``. Load pretrained weights with
    ``encoder.bilm.set_weights(pretrainer.bilm.get_weights())``.
    """

    def __init__(self, freeze: bool = False, normalize: bool = True, **bilm_args):
        base = {k: bilm_args.pop(k) for k in ("name", "trainable", "dtype") if k in bilm_args}
        super().__init__(**base)
        self.freeze, self.normalize = bool(freeze), bool(normalize)
        self.bilm_args = dict(bilm_args)
        self.bilm = BiLM(**bilm_args, name="bilm")
        self.bilm.trainable = not self.freeze
        self.mix = ScalarMix(self.bilm.num_layers + 1, name="mix")

    @property
    def pad_id(self) -> int:
        return self.bilm.pad_id

    @property
    def sequence_length(self) -> int:
        return self.bilm.sequence_length

    def build(self, input_shape):
        self.bilm.build(input_shape)
        self.mix.build([(*tuple(input_shape), 2 * self.bilm.embedding_dim)] * self.mix.num_inputs)
        self.built = True

    def call(self, ids, training=None):
        layers = self.bilm.layer_outputs(ids, training=training)
        if self.normalize:
            layers = [_standardize(h) for h in layers]
        return self.mix(layers)

    def get_config(self):
        return {
            **super().get_config(), "freeze": self.freeze, "normalize": self.normalize,
            **self.bilm_args,
        }  # fmt: skip


def _standardize(h, epsilon: float = 1e-5):
    mean = ops.mean(h, axis=-1, keepdims=True)
    variance = ops.var(h, axis=-1, keepdims=True)
    return (h - mean) / ops.sqrt(variance + epsilon)
