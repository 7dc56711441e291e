"""keraslab.layers.Sampling: z = mean + exp(log_var / 2) * eps, on the current backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.engine import grad
from keraslab.layers import Sampling

pytestmark = pytest.mark.backend

N = 20000
MEAN = np.array([0.0, 1.5, -2.0, 0.3], "float32")
LOG_VAR = np.array([0.0, np.log(0.25), np.log(4.0), -3.0], "float32")


def _draw(layer, n=N):
    mean = np.broadcast_to(MEAN, (n, len(MEAN))).astype("float32")
    log_var = np.broadcast_to(LOG_VAR, (n, len(LOG_VAR))).astype("float32")
    return ops.convert_to_numpy(
        layer([ops.convert_to_tensor(mean), ops.convert_to_tensor(log_var)])
    )


def test_draws_have_the_requested_mean_and_std():
    z = _draw(Sampling(seed=0)).astype("float64")
    assert z.shape == (N, len(MEAN))
    std = np.exp(LOG_VAR.astype("float64") / 2.0)  # the reference: sqrt(var)
    # Sample mean: standard error std / sqrt(N); sample std: about std / sqrt(2N).
    np.testing.assert_array_less(np.abs(z.mean(0) - MEAN), 5 * std / np.sqrt(N))
    np.testing.assert_array_less(np.abs(z.std(0, ddof=1) - std), 5 * std / np.sqrt(2 * N))
    # Standardised draws look standard normal (not e.g. uniform): kurtosis ~3, no skew.
    eps = (z - MEAN) / std
    assert abs(np.mean(eps**3)) < 0.1
    assert abs(np.mean(eps**4) - 3.0) < 0.2
    # Columns are independent draws, not one eps shared across the row.
    assert abs(np.corrcoef(eps[:, 0], eps[:, 1])[0, 1]) < 0.05


def test_successive_calls_draw_fresh_noise_and_seeds_reproduce():
    layer = Sampling(seed=3)
    a, b = _draw(layer, 64), _draw(layer, 64)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(_draw(Sampling(seed=3), 64), a)


def test_gradient_with_respect_to_mean_is_one():
    """d sum(z) / d mean = 1 elementwise (the reparameterisation trick lets it through)."""
    layer = Sampling(seed=1)
    log_var = ops.convert_to_tensor(np.full((5, 3), 0.7, "float32"))
    mean = ops.convert_to_tensor(np.arange(15, dtype="float32").reshape(5, 3))
    g = ops.convert_to_numpy(grad(lambda m: layer([m, log_var]), mean))
    np.testing.assert_allclose(g, np.ones((5, 3)), rtol=1e-6)
    # Through a nonlinear function of z: d sum(z^2) / d mean = 2 z, with the z of that draw (a
    # freshly seeded layer repeats its first draw, so the forward pass can be recomputed).
    g2 = ops.convert_to_numpy(grad(lambda m: ops.square(Sampling(seed=4)([m, log_var])), mean))
    z = ops.convert_to_numpy(Sampling(seed=4)([mean, log_var]))
    np.testing.assert_allclose(g2, 2.0 * z, rtol=1e-5, atol=1e-5)


def test_gradient_with_respect_to_log_var():
    """d sum(z) / d log_var = exp(log_var / 2) * eps / 2 = (z - mean) / 2."""
    mean = ops.convert_to_tensor(np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3))
    log_var = ops.convert_to_tensor(np.linspace(-2, 1, 12, dtype="float32").reshape(4, 3))
    g = ops.convert_to_numpy(grad(lambda v: Sampling(seed=5)([mean, v]), log_var))
    z = ops.convert_to_numpy(Sampling(seed=5)([mean, log_var]))
    np.testing.assert_allclose(g, 0.5 * (z - ops.convert_to_numpy(mean)), rtol=1e-5, atol=1e-6)
    assert np.abs(g).max() > 0.05  # not trivially zero


def test_config_round_trip():
    layer = Sampling(seed=7, name="draw")
    cfg = layer.get_config()
    assert cfg["seed"] == 7 and cfg["name"] == "draw"
    clone = Sampling.from_config(cfg)
    assert isinstance(clone, Sampling) and clone.seed == 7 and clone.name == "draw"
    np.testing.assert_array_equal(_draw(clone, 32), _draw(Sampling(seed=7), 32))
    # Also through Keras's registry (the layer is registered serialisable).
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, Sampling) and restored.seed == 7
    assert layer.compute_output_shape([(None, 4), (None, 4)]) == (None, 4)


def test_embedding_noise_is_relative_to_each_vector_and_off_outside_training():
    from keraslab.layers import EmbeddingNoise

    rng = np.random.default_rng(0)
    scales = np.array([0.01, 1.0, 50.0], "float32")[:, None, None]  # three very different sizes
    x = (rng.normal(size=(3, 400, 64)) * scales).astype("float32")
    layer = EmbeddingNoise(0.2, seed=1)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x)), x)  # inference: identity
    out = ops.convert_to_numpy(layer(x, training=True)).astype("float64")
    rms = np.sqrt((x.astype("float64") ** 2).mean(axis=-1, keepdims=True))
    relative = (out - x) / rms  # numpy's statement of the noise: N(0, 0.2^2) per vector
    for group in relative:
        assert abs(group.std() - 0.2) < 0.01 and abs(group.mean()) < 0.01
    again = ops.convert_to_numpy(layer(x, training=True))
    assert not np.allclose(again, out)  # fresh noise each call
    same = EmbeddingNoise(0.2, seed=1)(x, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(same), out.astype("float32"))


def test_a_text_classifier_with_embedding_noise_trains():
    from keraslab.models.text_classifier import TextClassifier

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 256)
    ids = rng.integers(3, 50, (256, 8)).astype("int32")
    ids[:, 0] = labels + 1  # the first token tells the class
    clf = TextClassifier(2, vocabulary_size=50, sequence_length=8, embedding_dim=16, num_heads=2,
                         intermediate_dim=32, num_layers=1, embedding_noise=0.3)  # fmt: skip
    clf.compile(optimizers={"classifier": keras.optimizers.Adam(3e-3)})
    before = clf.evaluate(ids, labels, verbose=0, return_dict=True)["classifier_loss"]
    clf.fit(ids, labels, batch_size=32, epochs=8, verbose=0)
    after = clf.evaluate(ids, labels, verbose=0, return_dict=True)["classifier_loss"]
    assert after < 0.5 * before
    config = clf.backbone.get_config()
    assert config["embedding_noise"] == 0.3
