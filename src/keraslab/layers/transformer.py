"""Transformer encoder and decoder blocks (Vaswani et al. 2017), post-norm or pre-norm.

Post-norm (the paper, and the course): ``x = LayerNorm(x + Dropout(sublayer(x)))``.
Pre-norm (GPT-2 and most modern models; trains more stably when deep):
``x = x + Dropout(sublayer(LayerNorm(x)))``.

Masks are explicit booleans (``True`` = real token): ``padding_mask`` ``(batch, length)`` for the
block's own tokens and ``context_mask`` ``(batch, source_length)`` for the encoder output. The
decoder's causal mask is built from ``arange`` so it is jit-safe on JAX.
"""

from __future__ import annotations

import keras
from keras import ops

from keraslab.layers.attention import MultiHeadAttention


def _ffn(dim: int, intermediate_dim: int, activation: str, name: str) -> keras.Sequential:
    return keras.Sequential(
        [
            keras.layers.Dense(intermediate_dim, activation=activation),
            keras.layers.Dense(dim),
        ],
        name=name,
    )


class _Block(keras.layers.Layer):
    """Shared settings and the residual wiring of both block types."""

    def __init__(
        self,
        num_heads: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        norm_first: bool = False,
        activation: str = "relu",
        layer_norm_epsilon: float = 1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout_layer = keras.layers.Dropout(dropout)

    def _norm(self, name):
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name=name)

    def _residual(self, x, norm, sublayer, training):
        """One sublayer with its residual connection and layer norm (post- or pre-norm)."""
        if self.norm_first:
            return x + self.dropout_layer(sublayer(norm(x)), training=training)
        return norm(x + self.dropout_layer(sublayer(x), training=training))

    def _head_dim(self, dim: int) -> int:
        if dim % self.num_heads:
            raise ValueError(f"model width {dim} is not divisible by num_heads={self.num_heads}.")
        return dim // self.num_heads

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }


@keras.saving.register_keras_serializable(package="keraslab")
class TransformerEncoder(_Block):
    """Self-attention + feed-forward block.

    Args:
        num_heads: int. Attention heads (the width must divide by it).
        intermediate_dim: int. Hidden width of the feed-forward network.
        dropout: float. On attention weights and on each residual branch.
        norm_first: bool. Pre-norm if true, post-norm (the paper) if false.
        activation: str. Of the feed-forward network.
        layer_norm_epsilon: float.

    Example:
        >>> enc = TransformerEncoder(num_heads=8, intermediate_dim=1024)
        >>> h = enc(x, padding_mask=ids != 0)  # (batch, length, dim)
    """

    def build(self, x_shape):
        input_shape = x_shape
        dim = input_shape[-1]
        self.attention = MultiHeadAttention(
            self.num_heads, self._head_dim(dim), dropout=self.dropout, name="self_attention"
        )
        self.attention.build(input_shape)
        self.attention_norm = self._norm("attention_norm")
        self.attention_norm.build(input_shape)
        self.ffn = _ffn(dim, self.intermediate_dim, self.activation, "ffn")
        self.ffn.build(input_shape)
        self.ffn_norm = self._norm("ffn_norm")
        self.ffn_norm.build(input_shape)
        self.built = True

    def call(self, x, padding_mask=None, training=None):
        mask = None if padding_mask is None else ops.expand_dims(padding_mask, 1)
        x = self._residual(
            x,
            self.attention_norm,
            lambda h: self.attention(h, attention_mask=mask, training=training),
            training,
        )
        return self._residual(x, self.ffn_norm, self.ffn, training)


@keras.saving.register_keras_serializable(package="keraslab")
class TransformerDecoder(_Block):
    """Causal self-attention + cross-attention (to an encoder output) + feed-forward block.

    With ``cross_attention=False`` it is a GPT-style decoder-only block. Incremental decoding:
    start from :meth:`initial_cache` and feed one new token per call with ``cache=``; each call
    returns ``(output, cache)`` and costs the same whatever the step, so decoding grows linearly
    with the output length (without a cache every step re-runs the whole prefix).

    Args: as :class:`TransformerEncoder`, plus
        cross_attention: bool. Attend to an encoder output (``context``).

    Call args:
        x: ``(batch, target_length, dim)``.
        context: ``(batch, source_length, dim)``, the encoder output.
        padding_mask: ``(batch, target_length)``, ``True`` at real target tokens.
        context_mask: ``(batch, source_length)``, ``True`` at real source tokens.
        cache: ``dict`` from :meth:`initial_cache` (or a previous call), or ``None``.
        cache_index: int. Position of ``x``'s first token (the number of tokens already cached).

    Example:
        >>> dec = TransformerDecoder(num_heads=8, intermediate_dim=1024)
        >>> y = dec(x, context=h, context_mask=src_ids != 0)        # teacher forcing
        >>> cache = dec.initial_cache(max_length=64, context=h)
        >>> y_t, cache = dec(x_t, context_mask=src_mask, cache=cache, cache_index=t)  # step t
    """

    def __init__(self, num_heads, intermediate_dim, cross_attention: bool = True, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.cross_attention = cross_attention

    def build(self, x_shape, context_shape=None):
        input_shape = x_shape
        dim = input_shape[-1]
        head = self._head_dim(dim)
        self.self_attention = MultiHeadAttention(
            self.num_heads, head, dropout=self.dropout, name="self_attention"
        )
        self.self_attention.build(input_shape)
        self.self_attention_norm = self._norm("self_attention_norm")
        self.self_attention_norm.build(input_shape)
        if self.cross_attention:
            context_shape = context_shape or input_shape
            self.cross_attention_layer = MultiHeadAttention(
                self.num_heads, head, dropout=self.dropout, name="cross_attention"
            )
            self.cross_attention_layer.build(input_shape, context_shape)
            self.cross_attention_norm = self._norm("cross_attention_norm")
            self.cross_attention_norm.build(input_shape)
        self.ffn = _ffn(dim, self.intermediate_dim, self.activation, "ffn")
        self.ffn.build(input_shape)
        self.ffn_norm = self._norm("ffn_norm")
        self.ffn_norm.build(input_shape)
        self.built = True

    def initial_cache(self, max_length: int, context=None, batch_size=None):
        """Empty self-attention buffers for ``max_length`` positions, plus the cross-attention
        keys/values of ``context`` (computed once per source)."""
        if batch_size is None:
            batch_size = ops.shape(context)[0]
        dtype = self.compute_dtype
        cache = {"self": self.self_attention.empty_cache(batch_size, max_length, dtype)}
        if self.cross_attention:
            if context is None:
                raise ValueError("this decoder attends to an encoder output: pass context.")
            cache["cross"] = self.cross_attention_layer.project_key_value(context)
        return cache

    def call(
        self,
        x,
        context=None,
        padding_mask=None,
        context_mask=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        new_cache = None if cache is None else dict(cache)

        def self_attend(h):
            if cache is None:
                mask = None if padding_mask is None else ops.expand_dims(padding_mask, 1)
                return self.self_attention(
                    h, attention_mask=mask, use_causal_mask=True, training=training
                )
            out, new_cache["self"] = self.self_attention(
                h,
                use_causal_mask=True,
                cache=cache["self"],
                cache_index=cache_index,
                training=training,
            )
            return out

        x = self._residual(x, self.self_attention_norm, self_attend, training)

        if self.cross_attention:
            mask = None if context_mask is None else ops.expand_dims(context_mask, 1)

            def cross_attend(h):
                if cache is None:
                    if context is None:
                        raise ValueError("this decoder attends to an encoder output: pass context.")
                    return self.cross_attention_layer(
                        h, context, attention_mask=mask, training=training
                    )
                k, v = cache["cross"]
                return self.cross_attention_layer.attend(h, k, v, mask, training=training)

            x = self._residual(x, self.cross_attention_norm, cross_attend, training)

        x = self._residual(x, self.ffn_norm, self.ffn, training)
        return x if cache is None else (x, new_cache)

    def compute_output_spec(
        self,
        x,
        context=None,
        padding_mask=None,
        context_mask=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        # With cache= the call returns (output, new cache): keep that structure symbolically.
        out = keras.KerasTensor(x.shape, dtype=self.compute_dtype)
        if cache is None:
            return out
        return out, keras.tree.map_structure(lambda c: keras.KerasTensor(c.shape, c.dtype), cache)

    def get_config(self):
        return {**super().get_config(), "cross_attention": self.cross_attention}
