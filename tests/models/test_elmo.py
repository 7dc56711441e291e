"""ELMo: each direction is causal its own way, the layer mix is eq. 1 of the paper, vectors depend
on context (the embedding layer's do not), pretraining lowers both perplexities, and a saved
model or classifier gives the same outputs after loading; on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.models.elmo import ELMo, ELMoEncoder, ScalarMix, reverse_within_length
from keraslab.models.text_classifier import TextClassifier

pytestmark = pytest.mark.backend

V, T, D = 40, 12, 16


@pytest.fixture(scope="module")
def lm():
    keras.utils.set_random_seed(0)
    return ELMo(V, sequence_length=T, embedding_dim=D, num_layers=2, dropout=0.0)


def _states(lm, ids):
    forward, backward, embedded = lm.bilm(ids)
    return [ops.convert_to_numpy(h) for h in (*forward, *backward, embedded)]


def test_reverse_within_length_keeps_padding_in_place():
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], "int32")
    got = ops.convert_to_numpy(reverse_within_length(x, np.array([3, 5])))
    np.testing.assert_array_equal(got, [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4]])


def test_forward_ignores_later_tokens_and_backward_ignores_earlier_ones(lm):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, V, (2, T)).astype("int32")
    t = 5
    later, earlier = ids.copy(), ids.copy()
    later[:, t + 1 :] = rng.integers(1, V, (2, T - t - 1))
    earlier[:, :t] = rng.integers(1, V, (2, t))
    base, after_later, after_earlier = _states(lm, ids), _states(lm, later), _states(lm, earlier)
    for layer in range(2):  # forward layers: positions 0..t unchanged by tokens after t
        np.testing.assert_allclose(
            after_later[layer][:, : t + 1], base[layer][:, : t + 1], atol=1e-6
        )
        assert not np.allclose(after_earlier[layer][:, t], base[layer][:, t], atol=1e-4)
    for layer in (2, 3):  # backward layers: positions t.. unchanged by tokens before t
        np.testing.assert_allclose(after_earlier[layer][:, t:], base[layer][:, t:], atol=1e-6)
        assert not np.allclose(after_later[layer][:, t], base[layer][:, t], atol=1e-4)


def test_padding_does_not_reach_real_tokens(lm):
    ids = np.array([[5, 6, 7, 8, 9]], "int32")
    padded = np.array([[5, 6, 7, 8, 9, 0, 0, 0]], "int32")
    short, long = lm.bilm.layer_outputs(ids), lm.bilm.layer_outputs(padded)
    for a, b in zip(short, long):
        np.testing.assert_allclose(
            ops.convert_to_numpy(b)[:, :5], ops.convert_to_numpy(a), atol=1e-6
        )


def test_scalar_mix_equals_numpy():
    rng = np.random.default_rng(1)
    layers = [rng.normal(size=(2, 3, 4)).astype("float32") for _ in range(3)]
    mix = ScalarMix(3)
    mix.build([(2, 3, 4)] * 3)
    s = np.array([0.3, -1.2, 2.0], "float32")
    mix.scalars.assign(s)
    mix.gamma.assign(1.7)
    weights = np.exp(s) / np.exp(s).sum()
    expected = 1.7 * sum(w * h for w, h in zip(weights, layers))
    np.testing.assert_allclose(ops.convert_to_numpy(mix(layers)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mix.layer_weights(), weights, rtol=1e-6)


def test_the_same_word_gets_different_vectors_in_two_contexts(lm):
    word = 7
    a = np.array([[1, 2, word, 3, 4]], "int32")
    b = np.array([[9, 11, word, 13, 15]], "int32")
    la, lb = lm.bilm.layer_outputs(a), lm.bilm.layer_outputs(b)
    np.testing.assert_allclose(ops.convert_to_numpy(la[0])[0, 2], ops.convert_to_numpy(lb[0])[0, 2])
    for j in (1, 2):
        assert not np.allclose(
            ops.convert_to_numpy(la[j])[0, 2], ops.convert_to_numpy(lb[j])[0, 2], atol=1e-4
        )


def _corpus(n=96, seed=0):
    """Sequences of a counting pattern with random starts and steps: each direction can learn
    to predict its neighbour (next = previous + step), so both perplexities must fall."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, T), "int32")
    for i in range(n):
        length = rng.integers(6, T + 1)
        start, step = rng.integers(1, V), rng.integers(1, 3)
        ids[i, :length] = (start + step * np.arange(length)) % (V - 1) + 1
    return ids


def test_pretraining_lowers_both_directions_perplexity():
    keras.utils.set_random_seed(0)
    model = ELMo(V, sequence_length=T, embedding_dim=D, num_layers=2, dropout=0.0)
    model.compile(optimizers={"elmo": keras.optimizers.Adam(1e-2)})
    train, val = _corpus(seed=0), _corpus(seed=1)
    f0, b0, n = model.evaluate_losses(val)
    model.fit(train, batch_size=32, epochs=25, verbose=0)
    f1, b1, _ = model.evaluate_losses(val)
    assert np.isclose(f0 / n, np.log(V), rtol=0.05)  # untrained: about uniform
    assert np.exp(f1 / n) < 0.5 * np.exp(f0 / n)
    assert np.exp(b1 / n) < 0.5 * np.exp(b0 / n)


def test_saving_and_loading_keep_outputs(tmp_path, lm):
    ids = _corpus(4)
    path = tmp_path / "elmo.keras"
    lm.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(lm(ids), loaded(ids)):
        np.testing.assert_allclose(ops.convert_to_numpy(b), ops.convert_to_numpy(a), atol=1e-5)

    clf = TextClassifier(3, encoder="elmo", freeze=True, **lm.bilm_args)
    clf.load_backbone(lm.bilm)
    clf.backbone.mix.scalars.assign(np.array([0.5, -0.5, 1.0], "float32"))
    assert len(clf.trainable_weights) == 4  # the mix (weights, gamma) and the head only
    path = tmp_path / "clf.keras"
    clf.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict_proba(ids), clf.predict_proba(ids), atol=1e-5)
    assert not again.backbone.bilm.trainable


def test_encoder_loads_the_pretrained_bilm(lm):
    ids = _corpus(3)
    enc = ELMoEncoder(**lm.bilm_args)
    enc(ids)
    enc.bilm.set_weights(lm.bilm.get_weights())
    layers = [ops.convert_to_numpy(h).astype("float64") for h in lm.bilm.layer_outputs(ids)]
    standardized = [
        (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5) for h in layers
    ]
    # the untrained mix: equal weights, gamma 1
    np.testing.assert_allclose(ops.convert_to_numpy(enc(ids)), np.mean(standardized, 0), atol=1e-4)
    raw = ELMoEncoder(normalize=False, **lm.bilm_args)
    raw(ids)
    raw.bilm.set_weights(lm.bilm.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(raw(ids)), np.mean(layers, 0), atol=1e-5)
