"""The conditional autoencoder (Functional API, two inputs, Dot) against numpy with random
weights; masked batch normalisation; the masked loss; training on a linear truth recovers the
factor space (principal angles near 0), as IPCA does."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.data.finance import managed_portfolios, simulate_panel
from keraslab.metrics.asset_pricing import principal_angles

pytestmark = pytest.mark.backend


def _randomize(model, rng):
    for v in model.weights:  # kernels, biases, BN gamma/beta and moving statistics
        shape = tuple(v.shape)
        value = rng.standard_normal(shape) * 0.5
        if "variance" in v.path:
            value = rng.uniform(0.5, 2.0, shape)
        v.assign(value.astype("float32"))


def _layer(model, name):
    return model.beta_network.get_layer(name)


@pytest.mark.parametrize("architecture", ["ca0", "ca2"])
def test_model_equals_numpy_beta_times_factors(architecture):
    import keras

    from keraslab.models.asset_pricing import ARCHITECTURES, ConditionalAutoencoder

    rng = np.random.default_rng(0)
    p, k, n = 6, 3, 11
    model = ConditionalAutoencoder(p, k, ARCHITECTURES[architecture])
    _randomize(model, rng)
    z = rng.uniform(-1, 1, (2, n, p)).astype("float32")
    x = rng.standard_normal((2, p)).astype("float32")
    mask = np.ones((2, n), bool)
    got = keras.ops.convert_to_numpy(model([z, x, mask], training=False))

    h = z.astype("float64")
    for i, _ in enumerate(ARCHITECTURES[architecture], 1):
        d = _layer(model, f"beta_hidden_{i}")
        h = h @ np.asarray(d.kernel) + np.asarray(d.bias)
        bn = _layer(model, f"beta_bn_{i}")
        h = (h - np.asarray(bn.moving_mean)) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
        h = np.maximum(np.asarray(bn.gamma) * h + np.asarray(bn.beta), 0)
    out = _layer(model, "betas")
    betas = h @ np.asarray(out.kernel) + (np.asarray(out.bias) if out.use_bias else 0)
    factors = x @ np.asarray(model.factor_network.get_layer("factors").kernel)
    expected = np.einsum("bnk,bk->bn", betas, factors)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # the parts are usable apart
    b = keras.ops.convert_to_numpy(model.beta_network([z, mask], training=False))
    np.testing.assert_allclose(b, betas, rtol=1e-4, atol=1e-4)


def test_padding_rows_do_not_move_batch_norm_or_the_loss():
    import keras

    from keraslab.models.asset_pricing import ConditionalAutoencoder, MaskedMSE

    rng = np.random.default_rng(1)
    model = ConditionalAutoencoder(4, 2, (8,))
    z = rng.uniform(-1, 1, (3, 5, 4)).astype("float32")
    x = rng.standard_normal((3, 4)).astype("float32")
    plain = keras.ops.convert_to_numpy(model([z, x, np.ones((3, 5), bool)], training=True))
    padded_z = np.concatenate([z, rng.uniform(-5, 5, (3, 3, 4)).astype("float32")], axis=1)
    mask = np.concatenate([np.ones((3, 5), bool), np.zeros((3, 3), bool)], axis=1)
    padded = keras.ops.convert_to_numpy(model([padded_z, x, mask], training=True))
    np.testing.assert_allclose(padded[:, :5], plain, rtol=1e-4, atol=1e-5)

    y = rng.standard_normal((3, 8)).astype("float32")
    y[~mask] = np.nan
    pred = rng.standard_normal((3, 8)).astype("float32")
    loss = float(keras.ops.convert_to_numpy(MaskedMSE()(y, pred)))
    assert np.isclose(loss, np.mean((y[mask] - pred[mask]) ** 2), rtol=1e-5)


def test_ca0_recovers_a_linear_factor_space_and_training_reduces_loss():
    from keraslab.models.asset_pricing import CAEnsemble, MaskedMSE, model_inputs

    p = simulate_panel(
        truth="linear", n_assets=100, n_months=120, n_characteristics=10, noise_std=0.02, seed=3
    )
    train, val = p.months(0, 90), p.months(90, 120)
    # No L1 here: the penalty may shrink one beta column towards 0 (f grows to compensate,
    # beta f is unchanged), which leaves that direction of the beta space ill-determined.
    ca = CAEnsemble("ca0", 3, seeds=(0,), l1=0.0)
    untrained = ca.build(p.characteristics.shape[-1], 0)
    before = float(MaskedMSE()(val.returns, untrained.predict(model_inputs(val), verbose=0)))
    ca.fit(train, val)
    after = float(MaskedMSE()(val.returns, ca.models[0].predict(model_inputs(val), verbose=0)))
    assert after < 0.5 * before
    factor_angles = np.degrees(principal_angles(ca.factors(p)[0], p.truth["factors"]))
    beta_angles = np.degrees(
        principal_angles(ca.betas(p)[0].reshape(-1, 3), p.truth["betas"].reshape(-1, 3))
    )
    assert factor_angles.max() < 10, (
        factor_angles
    )  # noise keeps the factor estimates a few degrees off
    assert beta_angles.max() < 5, beta_angles
    # the factor network reads the managed portfolios
    np.testing.assert_allclose(model_inputs(p)[1], managed_portfolios(p.characteristics, p.returns))
