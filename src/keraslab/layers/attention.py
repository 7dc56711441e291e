"""Attention from scratch: scaled dot-product attention and multi-head attention.

Everything is written with ``keras.ops``, so it runs (and jits) on JAX, TensorFlow and PyTorch.
Masks are boolean-like tensors where ``True`` (or 1) means *may attend*; they broadcast to the
score shape ``(batch, heads, query_length, key_length)``.

Reference: A. Vaswani et al. "Attention Is All You Need", NeurIPS 2017.
https://arxiv.org/abs/1706.03762
"""

from __future__ import annotations

import math

import keras
from keras import ops

# What keras.layers.Softmax puts at masked positions (so a fully masked row is uniform, as there).
_MASKED = -1e9


def causal_mask(query_length: int, key_length: int | None = None, start=0):
    """Boolean ``(query_length, key_length)`` mask: query ``i`` may see keys ``0 .. start + i``.

    Built from ``ops.arange`` (no ``tile`` of a dynamic shape), so it works inside jitted JAX code.
    ``start`` is the position of the first query, e.g. the cache length when decoding one token at
    a time; ``key_length`` defaults to ``start + query_length``.

    Example:
        >>> causal_mask(3)  # [[1, 0, 0], [1, 1, 0], [1, 1, 1]] as booleans
    """
    if key_length is None:
        key_length = start + query_length
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), 1) + start
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    return ops.less_equal(cols, rows)


def padding_mask(token_ids, pad_id: int = 0):
    """``(batch, length)`` boolean mask, ``True`` where ``token_ids != pad_id``."""
    return ops.not_equal(token_ids, pad_id)


def merge_masks(*masks):
    """Logical AND of the masks that are not ``None`` (``None`` if all are)."""
    out = None
    for m in masks:
        if m is None:
            continue
        m = ops.cast(m, "bool")
        out = m if out is None else ops.logical_and(out, m)
    return out


def scaled_dot_product_attention(
    q, k, v, mask=None, dropout_rate: float = 0.0, training=None, seed=None
):
    """``softmax(q k^T / sqrt(d_k) + masked) v`` and the attention weights.

    Args:
        q: ``(..., query_length, d_k)``.
        k: ``(..., key_length, d_k)``.
        v: ``(..., key_length, d_v)``.
        mask: optional, broadcastable to ``(..., query_length, key_length)``; ``True`` = attend.
        dropout_rate: float. Dropout on the weights (only when ``training``).
        training: bool. Dropout is applied only when true.
        seed: a ``keras.random.SeedGenerator`` (needed for dropout inside jitted code).

    Returns:
        ``(output (..., query_length, d_v), weights (..., query_length, key_length))``.

    Example:
        >>> out, w = scaled_dot_product_attention(q, k, v, mask=causal_mask(5))
    """
    d_k = ops.shape(q)[-1]
    scores = ops.matmul(q * (1.0 / math.sqrt(d_k)), ops.swapaxes(k, -1, -2))
    if mask is not None:
        scores = ops.where(ops.cast(mask, "bool"), scores, ops.cast(_MASKED, scores.dtype))
    weights = ops.softmax(scores, axis=-1)
    dropped = weights
    if training and dropout_rate > 0:
        dropped = keras.random.dropout(weights, dropout_rate, seed=seed)
    return ops.matmul(dropped, v), weights


@keras.saving.register_keras_serializable(package="keraslab")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention, from scratch: project, split heads, attend, merge, project.

    Self-attention: ``mha(x)``; cross-attention: ``mha(x, context)``. The four projections are
    plain ``Dense`` layers of width ``num_heads * key_dim`` (``value_dim`` for values). Given the
    same weights it computes exactly what ``keras.layers.MultiHeadAttention`` computes (tested on
    every backend), and adds a key/value cache for incremental decoding.

    Args:
        num_heads: int. Number of heads.
        key_dim: int. Size of each head for queries and keys.
        value_dim: int. Size of each head for values (default ``key_dim``).
        dropout: float. Dropout on the attention weights.
        use_bias: bool. Biases in the projections.
        output_dim: int. Width of the output (default: the query's last dimension).
        seed: int. Seed of the dropout.

    Call args:
        query: ``(batch, query_length, dim)``.
        value: ``(batch, key_length, dim)``; default ``query`` (self-attention).
        key: default ``value``.
        attention_mask: broadcastable to ``(batch, query_length, key_length)``; ``True`` = attend.
        value_mask: ``(batch, key_length)``, ``False`` at padding keys.
        use_causal_mask: bool. Query ``i`` sees keys ``<= i`` (offset by the cache length).
        return_attention_scores: bool. Also return weights ``(batch, heads, q_len, k_len)``.
        cache: ``(k, v)`` buffers, each ``(batch, heads, max_length, head_dim)``, from
            :meth:`empty_cache`, or ``None``. When given (self-attention), the new keys/values
            are written at ``cache_index`` and the call returns ``(output, new_cache)``; slots
            after the last written position are masked. Fixed-size buffers keep every decoding
            step the same shape (one compilation on JAX) and its cost independent of the step.
        cache_index: int or scalar tensor. Position of the first query in the cache.
        training: bool.

    Example:
        >>> mha = MultiHeadAttention(num_heads=8, key_dim=32)
        >>> y = mha(x, use_causal_mask=True)            # causal self-attention
        >>> y, w = mha(x, enc, value_mask=src_mask, return_attention_scores=True)
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_dim: int | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_heads < 1 or key_dim < 1:
            raise ValueError(f"num_heads and key_dim must be >= 1, got {num_heads}, {key_dim}.")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.output_dim = output_dim
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.query_dense = keras.layers.Dense(num_heads * key_dim, use_bias=use_bias, name="query")
        self.key_dense = keras.layers.Dense(num_heads * key_dim, use_bias=use_bias, name="key")
        self.value_dense = keras.layers.Dense(
            num_heads * self.value_dim, use_bias=use_bias, name="value"
        )
        self.output_dense = None

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        out = self.output_dim or query_shape[-1]
        self.output_dense = keras.layers.Dense(out, use_bias=self.use_bias, name="attention_output")
        self.query_dense.build(query_shape)
        self.key_dense.build(key_shape)
        self.value_dense.build(value_shape)
        self.output_dense.build((*query_shape[:-1], self.num_heads * self.value_dim))
        self.built = True

    # ---- pieces (also used by cached decoding) -----------------------------------------------
    def _split_heads(self, x, head_dim):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (b, t, self.num_heads, head_dim))
        return ops.transpose(x, (0, 2, 1, 3))  # (batch, heads, length, head_dim)

    def project_key_value(self, value, key=None):
        """Keys and values of ``value``/``key`` split into heads: ``(k, v)``, each
        ``(batch, heads, length, head_dim)``. Compute once per source sentence when decoding."""
        key = value if key is None else key
        k = self._split_heads(self.key_dense(key), self.key_dim)
        v = self._split_heads(self.value_dense(value), self.value_dim)
        return k, v

    def empty_cache(self, batch_size: int, max_length: int, dtype="float32"):
        """Zero key/value buffers for ``max_length`` positions, for ``call(..., cache=...)``."""
        return (
            ops.zeros((batch_size, self.num_heads, max_length, self.key_dim), dtype=dtype),
            ops.zeros((batch_size, self.num_heads, max_length, self.value_dim), dtype=dtype),
        )

    def attend(self, query, k, v, mask=None, return_attention_scores=False, training=None):
        """Attention of ``query`` (batch, q_len, dim) over projected heads ``k``, ``v``."""
        q = self._split_heads(self.query_dense(query), self.key_dim)
        if mask is not None and len(mask.shape) == 3:
            mask = ops.expand_dims(mask, 1)  # broadcast over heads
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, self.dropout, training=training, seed=self.seed_generator
        )
        b, t = ops.shape(out)[0], ops.shape(out)[2]
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (b, t, self.num_heads * self.value_dim))
        out = self.output_dense(out)
        return (out, weights) if return_attention_scores else out

    def call(
        self,
        query,
        value=None,
        key=None,
        attention_mask=None,
        value_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        cache=None,
        cache_index=None,
        training=None,
    ):
        value = query if value is None else value
        start = 0
        q_len = ops.shape(query)[1]
        mask = attention_mask
        if cache is not None:
            if value is not query or key is not None:
                raise ValueError("cache= is for self-attention: call mha(x, cache=...).")
            k_new, v_new = self.project_key_value(query)
            start = 0 if cache_index is None else cache_index
            k = ops.slice_update(cache[0], (0, 0, start, 0), k_new)
            v = ops.slice_update(cache[1], (0, 0, start, 0), v_new)
            filled = ops.less(ops.arange(ops.shape(k)[2]), start + q_len)  # written slots only
            mask = merge_masks(mask, filled[None, None, :])
        else:
            k, v = self.project_key_value(value, key)
        k_len = ops.shape(k)[2]
        if value_mask is not None:
            mask = merge_masks(mask, ops.expand_dims(value_mask, 1))
        if use_causal_mask:
            mask = merge_masks(mask, ops.expand_dims(causal_mask(q_len, k_len, start), 0))
        result = self.attend(query, k, v, mask, return_attention_scores, training)
        return (result, (k, v)) if cache is not None else result

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return (*query_shape[:-1], self.output_dim or query_shape[-1])

    def compute_output_spec(
        self,
        query,
        value=None,
        key=None,
        attention_mask=None,
        value_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        cache=None,
        cache_index=None,
        training=None,
    ):
        # The symbolic outputs have the structure of call()'s: also the attention weights with
        # return_attention_scores, also the new cache with cache= (compute_output_shape alone
        # would give one tensor, and a functional model would lose the other outputs).
        value = query if value is None else value
        key = value if key is None else key
        out = keras.KerasTensor(self.compute_output_shape(query.shape), dtype=self.compute_dtype)
        if return_attention_scores:
            k_len = cache[0].shape[2] if cache is not None else key.shape[1]
            weights_shape = (query.shape[0], self.num_heads, query.shape[1], k_len)
            out = (out, keras.KerasTensor(weights_shape, dtype=self.compute_dtype))
        if cache is None:
            return out
        new_cache = tuple(keras.KerasTensor(c.shape, dtype=c.dtype) for c in cache)
        return out, new_cache

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_dim": self.output_dim,
            "seed": self.seed,
        }
