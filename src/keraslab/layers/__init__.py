"""Reusable Keras layers (backend-agnostic; only keras and keras.ops)."""

from keraslab.layers.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_masks,
    padding_mask,
    scaled_dot_product_attention,
)
from keraslab.layers.conv import Conv2DTranspose
from keraslab.layers.positional import (
    PositionEmbedding,
    SinusoidalPositionalEncoding,
    TokenAndPositionEmbedding,
    sinusoidal_encoding,
)
from keraslab.layers.sampling import EmbeddingNoise, Sampling
from keraslab.layers.transformer import TransformerDecoder, TransformerEncoder

__all__ = [
    "Conv2DTranspose",
    "EmbeddingNoise",
    "MultiHeadAttention",
    "PositionEmbedding",
    "Sampling",
    "SinusoidalPositionalEncoding",
    "TokenAndPositionEmbedding",
    "TransformerDecoder",
    "TransformerEncoder",
    "causal_mask",
    "merge_masks",
    "padding_mask",
    "scaled_dot_product_attention",
    "sinusoidal_encoding",
]

import keraslab  # noqa: E402

keraslab._register_keras_classes(done=__name__)  # if Keras came in through this package
