"""Positional information for Transformers: sinusoidal encodings and learned embeddings.

Both position layers follow keras-hub's convention: they *return* the position vectors for the
positions of their input, shaped like the input, and the caller adds them;
:class:`TokenAndPositionEmbedding` does the adding. ``start`` shifts the positions, for decoding
one token at a time with a cache.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def sinusoidal_encoding(length: int, depth: int, start=0, max_wavelength: float = 10000.0):
    """``(length, depth)`` encodings of positions ``start .. start + length - 1``.

    ``PE[p, 2i] = sin(p / w^(2i/d))`` and ``PE[p, 2i+1] = cos(p / w^(2i/d))`` with ``w`` =
    ``max_wavelength`` (Vaswani et al. 2017, section 3.5): sines and cosines interleaved, as in the
    paper. ``depth`` may be odd (the last column is then a sine).
    """
    positions = ops.cast(ops.arange(length) + start, "float32")[:, None]
    dims = ops.cast(ops.arange(depth), "float32")[None, :]
    pair = 2.0 * ops.floor(dims / 2.0)  # 2i for both columns 2i and 2i+1
    angles = positions * ops.exp(-pair / depth * math.log(max_wavelength))
    even = ops.equal(ops.mod(ops.arange(depth), 2), 0)[None, :]
    return ops.where(even, ops.sin(angles), ops.cos(angles))


@keras.saving.register_keras_serializable(package="keraslab")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Fixed sine/cosine position vectors, shaped like the ``(batch, length, dim)`` input.

    No weights and no maximum length.

    Args:
        max_wavelength: float. The ``10000`` of the paper.

    Example:
        >>> x = embeddings + SinusoidalPositionalEncoding()(embeddings)
    """

    def __init__(self, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, inputs, start=0):
        shape = ops.shape(inputs)
        pe = sinusoidal_encoding(shape[-2], shape[-1], start, self.max_wavelength)
        return ops.broadcast_to(ops.cast(pe, self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="keraslab")
class PositionEmbedding(keras.layers.Layer):
    """Learned position vectors (one trainable row per position, up to ``sequence_length``).

    Args:
        sequence_length: int. The longest sequence it can embed.
        initializer: initializer of the position table.

    Example:
        >>> x = embeddings + PositionEmbedding(sequence_length=128)(embeddings)
    """

    def __init__(self, sequence_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, input_shape[-1]),
            initializer=self.initializer,
        )
        self.built = True

    def call(self, inputs, start=0):
        shape = ops.shape(inputs)
        length = shape[-2]
        if isinstance(start, int) and isinstance(length, int):
            if start + length > self.sequence_length:
                raise ValueError(
                    f"positions up to {start + length} but sequence_length is "
                    f"{self.sequence_length}."
                )
        # A gather, not a slice: the start may change (decoding) without changing any shape.
        table = ops.convert_to_tensor(self.position_embeddings)
        rows = ops.take(table, ops.arange(length) + start, axis=0)
        return ops.broadcast_to(rows, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package="keraslab")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus position vectors (learned or sinusoidal).

    Args:
        vocabulary_size: int.
        sequence_length: int. Longest sequence (for learned positions).
        embedding_dim: int.
        positions: ``"learned"`` (the course's ``PositionalEmbedding``) or ``"sinusoidal"``.
        scale: bool. Multiply token embeddings by ``sqrt(embedding_dim)`` (as in the paper).
        mask_zero: bool. Token id 0 is padding: ``compute_mask`` returns ``ids != 0``.

    Example:
        >>> emb = TokenAndPositionEmbedding(8000, 64, 256)
        >>> x = emb(token_ids)  # (batch, length, 256)
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int,
        embedding_dim: int,
        positions: str = "learned",
        scale: bool = False,
        mask_zero: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}.")
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.positions = positions
        self.scale = scale
        self.mask_zero = mask_zero
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="token_embedding"
        )
        if positions == "learned":
            self.position_embedding = PositionEmbedding(sequence_length, name="position_embedding")
        else:
            self.position_embedding = SinusoidalPositionalEncoding(name="position_embedding")

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((*input_shape, self.embedding_dim))
        self.built = True

    def call(self, token_ids, start=0):
        x = self.token_embedding(token_ids)
        if self.scale:
            x = x * math.sqrt(self.embedding_dim)
        return x + self.position_embedding(x, start=start)

    def compute_mask(self, token_ids, mask=None):
        return ops.not_equal(token_ids, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "positions": self.positions,
            "scale": self.scale,
            "mask_zero": self.mask_zero,
        }
