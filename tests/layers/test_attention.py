"""Attention, positional encodings and Transformer blocks against independent references:
keras.layers.MultiHeadAttention with the same weights, numpy formulas, and causality."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.layers import (
    MultiHeadAttention,
    PositionEmbedding,
    SinusoidalPositionalEncoding,
    TokenAndPositionEmbedding,
    TransformerDecoder,
    TransformerEncoder,
    causal_mask,
    scaled_dot_product_attention,
)

pytestmark = pytest.mark.backend

B, TQ, TK, D, H, K = 2, 5, 7, 16, 4, 6
RNG = np.random.default_rng(0)
XQ = RNG.normal(size=(B, TQ, D)).astype("float32")
XV = RNG.normal(size=(B, TK, D)).astype("float32")


def np_(x):
    return ops.convert_to_numpy(x)


def _pair(value_dim=None):
    """Our layer and Keras's, built, with Keras's weights copied into ours."""
    ref = keras.layers.MultiHeadAttention(num_heads=H, key_dim=K, value_dim=value_dim)
    ref(XQ, XV)
    ours = MultiHeadAttention(num_heads=H, key_dim=K, value_dim=value_dim)
    ours(XQ, XV)
    for mine, theirs in (
        (ours.query_dense, ref._query_dense),
        (ours.key_dense, ref._key_dense),
        (ours.value_dense, ref._value_dense),
    ):
        kernel, bias = (np_(w) for w in theirs.weights)  # (D, H, k), (H, k)
        mine.set_weights([kernel.reshape(D, -1), bias.reshape(-1)])
    kernel, bias = (np_(w) for w in ref._output_dense.weights)  # (H, v, D), (D,)
    ours.output_dense.set_weights([kernel.reshape(-1, kernel.shape[-1]), bias])
    return ours, ref


def test_scaled_dot_product_matches_numpy():
    q, k, v = XQ[:, :, :6], XV[:, :, :6], XV[:, :, 6:]
    mask = RNG.random((B, TQ, TK)) > 0.3
    s = q @ k.transpose(0, 2, 1) / np.sqrt(6)
    s = np.where(mask, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    np.testing.assert_allclose(np_(weights), np.nan_to_num(w), atol=1e-6)
    np.testing.assert_allclose(np_(out), np.nan_to_num(w) @ v, atol=1e-5)


@pytest.mark.parametrize("value_dim", [None, 3])
def test_mha_equals_keras_cross_attention_with_masks(value_dim):
    if value_dim and keras.backend.backend() == "jax":
        pytest.skip("keras.layers.MultiHeadAttention itself fails on JAX when value_dim != key_dim")
    ours, ref = _pair(value_dim)
    np.testing.assert_allclose(np_(ours(XQ, XV)), np_(ref(XQ, XV)), atol=1e-5)
    # padding mask on keys and an arbitrary attention mask
    value_mask = np.ones((B, TK), bool)
    value_mask[0, 4:] = False
    att = RNG.random((B, TQ, TK)) > 0.2
    att[:, :, 0] = True
    got, w = ours(XQ, XV, attention_mask=att, value_mask=value_mask, return_attention_scores=True)
    want, w_ref = ref(
        XQ,
        XV,
        attention_mask=att & value_mask[:, None, :],
        return_attention_scores=True,
    )
    np.testing.assert_allclose(np_(got), np_(want), atol=1e-5)
    np.testing.assert_allclose(np_(w), np_(w_ref), atol=1e-5)
    assert np.all(np_(w)[0, :, :, 4:] < 1e-6)  # no weight on padding keys


def test_mha_equals_keras_causal_self_attention():
    ref = keras.layers.MultiHeadAttention(num_heads=H, key_dim=K)
    ref(XQ, XQ)
    ours = MultiHeadAttention(num_heads=H, key_dim=K)
    ours(XQ)
    for mine, theirs in zip(
        (ours.query_dense, ours.key_dense, ours.value_dense),
        (ref._query_dense, ref._key_dense, ref._value_dense),
    ):
        kernel, bias = (np_(w) for w in theirs.weights)
        mine.set_weights([kernel.reshape(D, -1), bias.reshape(-1)])
    kernel, bias = (np_(w) for w in ref._output_dense.weights)
    ours.output_dense.set_weights([kernel.reshape(-1, D), bias])
    np.testing.assert_allclose(
        np_(ours(XQ, use_causal_mask=True)),
        np_(ref(XQ, XQ, use_causal_mask=True)),
        atol=1e-5,
    )


def test_causal_mask_is_lower_triangular_and_offset():
    np.testing.assert_array_equal(np_(causal_mask(4)), np.tril(np.ones((4, 4), bool)))
    # two new queries after 3 cached positions see keys 0..3 and 0..4
    np.testing.assert_array_equal(np_(causal_mask(2, start=3)), np.tril(np.ones((2, 5), bool), k=3))


def test_sinusoidal_encoding_equals_the_paper_formula():
    length, depth = 50, 12
    pos = np.arange(length)[:, None]
    i = np.arange(depth // 2)[None, :]
    want = np.zeros((length, depth))
    want[:, 0::2] = np.sin(pos / 10000 ** (2 * i / depth))
    want[:, 1::2] = np.cos(pos / 10000 ** (2 * i / depth))
    got = np_(SinusoidalPositionalEncoding()(np.zeros((3, length, depth), "float32")))
    assert got.shape == (3, length, depth)
    np.testing.assert_allclose(got[1], want, atol=2e-5)
    shifted = np_(SinusoidalPositionalEncoding()(np.zeros((1, 4, depth), "float32"), start=10))
    np.testing.assert_allclose(shifted[0], want[10:14], atol=2e-5)


def test_learned_positions_and_token_embedding():
    ids = np.array([[3, 1, 0], [2, 2, 2]], "int32")
    emb = TokenAndPositionEmbedding(5, 8, 4, positions="learned")
    out = np_(emb(ids))
    tok = np_(emb.token_embedding.embeddings)
    pos = np_(emb.position_embedding.position_embeddings)
    np.testing.assert_allclose(out, tok[ids] + pos[:3][None], atol=1e-6)
    np.testing.assert_allclose(
        np_(emb(ids[:, :1], start=2))[:, 0], tok[ids[:, 0]] + pos[2], atol=1e-6
    )
    with pytest.raises(ValueError, match="sequence_length"):
        PositionEmbedding(4)(np.zeros((1, 5, 2), "float32"))


def _decoder_stack(norm_first):
    keras.utils.set_random_seed(1)
    enc = TransformerEncoder(num_heads=2, intermediate_dim=32, norm_first=norm_first)
    dec = TransformerDecoder(num_heads=2, intermediate_dim=32, norm_first=norm_first)
    src = RNG.normal(size=(B, TK, D)).astype("float32")
    src_mask = np.ones((B, TK), bool)
    src_mask[1, 5:] = False
    context = enc(src, padding_mask=src_mask)
    return dec, context, src_mask


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_is_causal_and_cache_matches(norm_first):
    dec, context, src_mask = _decoder_stack(norm_first)
    x = RNG.normal(size=(B, 6, D)).astype("float32")
    full = np_(dec(x, context=context, context_mask=src_mask))
    t = 2
    changed = x.copy()
    changed[:, t + 1 :] = RNG.normal(size=changed[:, t + 1 :].shape)
    after = np_(dec(changed, context=context, context_mask=src_mask))
    np.testing.assert_allclose(after[:, : t + 1], full[:, : t + 1], atol=1e-5)
    assert np.abs(after[:, t + 1 :] - full[:, t + 1 :]).max() > 1e-3  # later positions do change
    # one token at a time through the cache = the full causal pass
    cache = dec.initial_cache(x.shape[1] + 3, context)  # spare slots stay masked
    steps = []
    for i in range(x.shape[1]):
        y, cache = dec(x[:, i : i + 1], context_mask=src_mask, cache=cache, cache_index=i)
        steps.append(np_(y))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)


def test_causal_mask_inside_jit_on_jax():
    if keras.backend.backend() != "jax":
        pytest.skip("jit of the causal mask is JAX-specific (other backends run eagerly here)")
    import jax

    dec, context, src_mask = _decoder_stack(False)
    x = RNG.normal(size=(B, 6, D)).astype("float32")
    eager = np_(dec(x, context=context, context_mask=src_mask))  # builds the weights

    @jax.jit
    def f(x, context, src_mask):
        return dec(x, context=context, context_mask=src_mask)

    np.testing.assert_allclose(np.asarray(f(x, context, src_mask)), eager, atol=1e-5)


def test_encoder_ignores_padding_tokens():
    keras.utils.set_random_seed(2)
    enc = TransformerEncoder(num_heads=2, intermediate_dim=32)
    x = RNG.normal(size=(1, 6, D)).astype("float32")
    mask = np.array([[True] * 4 + [False] * 2])
    y = np_(enc(x, padding_mask=mask))
    x2 = x.copy()
    x2[:, 4:] = 100.0  # garbage in the padding
    np.testing.assert_allclose(np_(enc(x2, padding_mask=mask))[:, :4], y[:, :4], atol=1e-5)
