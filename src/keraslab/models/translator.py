"""A Transformer encoder-decoder for translation (Vaswani et al. 2017), as built in the course.

Training uses teacher forcing: the decoder reads the target shifted right (``[START] y1 .. yn``)
and predicts it shifted left (``y1 .. yn [END]``); padding counts neither in the loss nor in the
accuracy. Source and target share one subword vocabulary and one embedding matrix, which is also
the output layer (tied embeddings, section 3.4 of the paper): cognates and names (Jesus/Jesús)
then start from the same vector. ``evaluate()`` reports the loss without label smoothing and
without dropout, averaged over target tokens.

Translation: :meth:`Translator.translate_ids` runs greedy or beam search (width, length penalty),
batched, with a key/value cache by default (``use_cache=False`` re-reads the prefix every step:
same tokens, quadratic cost).

Reference: A. Vaswani et al. "Attention Is All You Need", NeurIPS 2017.
https://arxiv.org/abs/1706.03762
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
from keras import ops

from keraslab.engine import Batch, Phase, PhasedModel, compiled_method, no_grad
from keraslab.layers import (
    PositionEmbedding,
    SinusoidalPositionalEncoding,
    TransformerDecoder,
    TransformerEncoder,
)
from keraslab.models.decoding import beam_search, greedy_search, ids_until

# Shared with GPT in keraslab.models.losses; still importable from here (re-export).
from keraslab.models.losses import masked_cross_entropy, token_count


@keras.saving.register_keras_serializable(package="keraslab")
class Translator(PhasedModel):
    """Encoder-decoder Transformer over a shared subword vocabulary.

    Args:
        vocabulary_size: int. Shared by source and target (id 0 = padding).
        sequence_length: int. Longest source, and longest target including ``[START]``/``[END]``.
        embedding_dim: int. Model width.
        num_heads: int.
        intermediate_dim: int. Feed-forward width.
        encoder_layers: int.
        decoder_layers: int.
        dropout: float.
        norm_first: bool. Pre-norm blocks (plus a final LayerNorm) instead of post-norm.
        positions: ``"learned"`` or ``"sinusoidal"``.
        label_smoothing: float.
        start_id, end_id, pad_id: int. Special token ids of the tokenizer.

    Example:
        >>> model = Translator(vocabulary_size=8000, sequence_length=96)
        >>> model.compile(optimizers={"translator": keras.optimizers.Adam(5e-4)})
        >>> model.fit((source_ids, target_in), target_out, epochs=10)
        >>> model.translate_ids(source_ids, method="beam", beam_width=4)
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int = 96,
        embedding_dim: int = 256,
        num_heads: int = 8,
        intermediate_dim: int = 1024,
        encoder_layers: int = 2,
        decoder_layers: int = 2,
        dropout: float = 0.1,
        norm_first: bool = False,
        positions: str = "learned",
        label_smoothing: float = 0.1,
        start_id: int = 2,
        end_id: int = 3,
        pad_id: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.dropout = dropout
        self.norm_first = norm_first
        self.positions = positions
        self.label_smoothing = label_smoothing
        self.start_id, self.end_id, self.pad_id = start_id, end_id, pad_id

        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=embedding_dim**-0.5),
            name="token_embedding",
        )

        def pos(name):
            if positions == "learned":
                return PositionEmbedding(sequence_length, name=name)
            if positions == "sinusoidal":
                return SinusoidalPositionalEncoding(name=name)
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}.")

        self.source_positions = pos("source_positions")
        self.target_positions = pos("target_positions")
        block = dict(
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            norm_first=norm_first,
        )
        self.encoder_blocks = [
            TransformerEncoder(**block, name=f"encoder_{i}") for i in range(encoder_layers)
        ]
        self.decoder_blocks = [
            TransformerDecoder(**block, name=f"decoder_{i}") for i in range(decoder_layers)
        ]
        self.embedding_dropout = keras.layers.Dropout(dropout)
        if norm_first:
            self.encoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")
            self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")
        self.output_bias = self.add_weight(
            name="output_bias", shape=(vocabulary_size,), initializer="zeros"
        )
        self.build_all()

    # ---- the network -------------------------------------------------------------------------
    def build_all(self):
        """Create every weight now (so checkpoints load without a dummy batch)."""
        src = np.ones((1, 2), "int32")
        with no_grad():
            context, mask = self.encode(src)
            self.decode(src, context, mask)
        self.built = True

    def _embed(self, ids, positions, start=0, training=None):
        x = self.token_embedding(ids) * math.sqrt(self.embedding_dim)
        x = x + positions(x, start=start)
        return self.embedding_dropout(x, training=training)

    def encode(self, source_ids, training=None):
        """Encoder output ``(batch, source_length, dim)`` and the source padding mask."""
        mask = ops.not_equal(source_ids, self.pad_id)
        x = self._embed(source_ids, self.source_positions, training=training)
        for block in self.encoder_blocks:
            x = block(x, padding_mask=mask, training=training)
        if self.norm_first:
            x = self.encoder_norm(x)
        return x, mask

    def _logits(self, x):
        if self.norm_first:
            x = self.decoder_norm(x)
        table = ops.convert_to_tensor(self.token_embedding.embeddings)
        return ops.matmul(x, ops.transpose(table)) + self.output_bias

    def decode(self, target_in, context, source_mask, training=None):
        """Next-token logits ``(batch, target_length, vocabulary)`` for every target position."""
        mask = ops.not_equal(target_in, self.pad_id)
        x = self._embed(target_in, self.target_positions, training=training)
        for block in self.decoder_blocks:
            x = block(
                x, context=context, padding_mask=mask, context_mask=source_mask, training=training
            )
        return self._logits(x)

    def call(self, inputs, training=None):
        source_ids, target_in = inputs
        context, mask = self.encode(source_ids, training=training)
        return self.decode(target_in, context, mask, training=training)

    # ---- training ----------------------------------------------------------------------------
    def phases(self):
        return [
            Phase(
                "translator",
                self.trainable_variables,
                self.optimizers["translator"],
                self.translation_loss,
                metrics=("accuracy",),
                batch_weight=lambda batch: token_count(batch.y, self.pad_id),
            )
        ]

    def translation_loss(self, batch):
        """Teacher-forced token cross-entropy; label smoothing and dropout in training only."""
        (source_ids, target_in), target_out = batch.x, batch.y
        logits = self((source_ids, target_in), training=batch.training)
        smoothing = self.label_smoothing if batch.training else 0.0
        loss, accuracy = masked_cross_entropy(target_out, logits, self.pad_id, smoothing)
        return loss, {"accuracy": accuracy}

    def evaluate_loss(self, source_ids, target_in, target_out):
        """Loss (without label smoothing) and accuracy of one batch, no dropout: the phase loss
        in evaluation mode. ``evaluate((source_ids, target_in), target_out)`` gives their means
        over all target tokens."""
        batch = Batch((source_ids, target_in), target_out, training=False)
        with no_grad():
            loss, logs = self.translation_loss(batch)
        return float(ops.convert_to_numpy(loss)), float(ops.convert_to_numpy(logs["accuracy"]))

    # ---- translation -------------------------------------------------------------------------
    def _decode_one(self, last_token, position, source_mask, caches):
        """Log-probabilities of the next token from the cached decoder state (one step)."""
        x = self._embed(last_token, self.target_positions, start=position)
        new = []
        for block, cache in zip(self.decoder_blocks, caches):
            x, cache = block(x, context_mask=source_mask, cache=cache, cache_index=position)
            new.append(cache)
        return ops.log_softmax(self._logits(x)[:, 0], axis=-1), new

    def _decode_last(self, tokens, context, source_mask):
        """Log-probabilities of the next token, re-reading the whole prefix (no cache)."""
        return ops.log_softmax(self.decode(tokens, context, source_mask)[:, -1], axis=-1)

    def _decoding_step(self, use_cache: bool):
        """``step(tokens, state) -> (log_probs, state)`` for :mod:`keraslab.models.decoding`;
        ``state`` holds the encoder's ``context`` and ``mask`` and the decoder ``caches``."""
        if use_cache:
            decode_one = compiled_method(self, "_decode_one")

            def step(tokens, state):
                position = np.asarray(tokens.shape[1] - 1, "int32")  # an array: no recompilation
                log_probs, caches = decode_one(
                    tokens[:, -1:], position, state["mask"], state["caches"]
                )
                return ops.convert_to_numpy(log_probs), {**state, "caches": caches}

            return step
        decode_last = compiled_method(self, "_decode_last")

        def step(tokens, state):
            log_probs = decode_last(tokens, state["context"], state["mask"])
            return ops.convert_to_numpy(log_probs), state

        return step

    @staticmethod
    def _reorder(state, rows):
        """Keep ``rows`` of a decoding state (a beam search's reorder)."""
        rows = ops.convert_to_tensor(rows, "int32")

        def take(t):
            return ops.take(t, rows, axis=0)

        caches = state["caches"]
        if caches is not None:
            caches = [{k: tuple(take(t) for t in kv) for k, kv in c.items()} for c in caches]
        return {"context": take(state["context"]), "mask": take(state["mask"]), "caches": caches}

    def translate_ids(
        self,
        source_ids,
        method: str = "greedy",
        beam_width: int = 4,
        length_penalty: float = 0.6,
        max_length: int | None = None,
        use_cache: bool = True,
    ) -> list[list[int]]:
        """Token ids of the translations of a padded ``(batch, length)`` source batch.

        Args:
            method: ``"greedy"`` or ``"beam"``.
            beam_width: int. Beams per sentence (beam search).
            length_penalty: float. GNMT alpha; 0 ranks beams by raw log-probability.
            max_length: int. Most tokens generated (default ``sequence_length - 1``).
            use_cache: bool. Key/value cache (linear cost) or re-read the prefix (quadratic).

        Returns:
            One list of ids per sentence, without ``[START]``, ``[END]`` and padding.
        """
        if method not in ("greedy", "beam"):
            raise ValueError(f"method must be 'greedy' or 'beam', got {method!r}.")
        source_ids = np.asarray(source_ids, "int32")
        if source_ids.ndim != 2 or source_ids.shape[1] > self.sequence_length:
            raise ValueError(
                f"source_ids must be (batch, <= {self.sequence_length}), got {source_ids.shape}."
            )
        max_length = max_length or self.sequence_length - 1
        max_length = min(max_length, self.sequence_length - 1)
        n = len(source_ids)
        width = beam_width if method == "beam" else 1
        with no_grad(), warnings.catch_warnings():
            # The first cached step attends over one key; Keras warns about softmax over size 1.
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            if width > 1:  # one row per beam
                source_ids = np.repeat(source_ids, width, axis=0)
            context, mask = self.encode(source_ids)
            caches = None
            if use_cache:
                caches = [
                    block.initial_cache(max_length + 1, context) for block in self.decoder_blocks
                ]
            state = {"context": context, "mask": mask, "caches": caches}
            step = self._decoding_step(use_cache)

            common = dict(start_id=self.start_id, end_id=self.end_id, max_length=max_length)
            if width == 1:
                tokens = greedy_search(step, state, n, pad_id=self.pad_id, **common)
            else:
                tokens = beam_search(
                    step,
                    state,
                    self._reorder,
                    n,
                    beam_width=width,
                    alpha=length_penalty,
                    pad_id=self.pad_id,
                    **common,
                )
        return ids_until(tokens, [self.end_id, self.pad_id])

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "encoder_layers": self.encoder_layers,
            "decoder_layers": self.decoder_layers,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "positions": self.positions,
            "label_smoothing": self.label_smoothing,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "pad_id": self.pad_id,
        }


@keras.saving.register_keras_serializable(package="keraslab")
class WarmupInverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then ``peak * sqrt(warmup / step)``.

    The shape of the paper's schedule (section 5.3), with the peak given directly instead of
    through ``d_model ** -0.5``. It does not depend on the number of epochs, so a resumed run
    continues on the same curve.

    Args:
        peak: float. Learning rate at the end of warm-up.
        warmup_steps: int.
    """

    def __init__(self, peak: float = 1e-3, warmup_steps: int = 800):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warm = float(self.warmup_steps)
        return self.peak * ops.minimum(step / warm, ops.sqrt(warm / step))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}
