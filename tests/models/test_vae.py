"""VAE on the current backend: the KL and likelihood terms against scipy/numpy references, training
on digits, and the ELBO / importance-sampled log-likelihood against numeric integration."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from scipy.special import expit, logsumexp
from scipy.stats import norm

from keraslab.data import load_digits
from keraslab.models import VAE, gaussian_kl

pytestmark = pytest.mark.backend

SHAPE = (8, 8, 1)


# ---------------------------------------------------------------- helpers and fixtures
def dense_encoder(latent_dim, hidden=64):
    x_in = keras.Input(SHAPE)
    h = keras.layers.Dense(hidden, activation="relu")(keras.layers.Flatten()(x_in))
    return keras.Model(x_in, [keras.layers.Dense(latent_dim)(h), keras.layers.Dense(latent_dim)(h)])


def dense_decoder(latent_dim, hidden=64):
    """latent -> per-pixel logits (no sigmoid)."""
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(int(np.prod(SHAPE))),
            keras.layers.Reshape(SHAPE),
        ]
    )


def small_vae(latent_dim, hidden=64, **kwargs):
    return VAE(
        SHAPE,
        latent_dim,
        encoder=dense_encoder(latent_dim, hidden),
        decoder=dense_decoder(latent_dim, hidden),
        **kwargs,
    )


def np_sigmoid(t):
    return expit(np.asarray(t, "float64"))


def np_log_bernoulli(x, logits):
    """log p(x | logits) summed over the image axes, float64, written out from probabilities."""
    p = np_sigmoid(logits)
    return np.sum(x * np.log(p) + (1.0 - x) * np.log1p(-p), axis=(-3, -2, -1))


@pytest.fixture(scope="module")
def digits():
    """Train images and statically binarised copies (train and test), fixed seed."""
    (x, _), (xt, _) = load_digits()
    rng = np.random.default_rng(0)
    xb = (rng.random(x.shape) < x).astype("float32")
    xtb = (rng.random(xt.shape) < xt).astype("float32")
    return x, xb, xtb


@pytest.fixture(scope="module")
def trained(digits):
    """A small dense Bernoulli VAE (latent 4) trained on binarised digits, and its history."""
    _, xb, _ = digits
    keras.utils.set_random_seed(0)
    vae = small_vae(4, hidden=128, seed=0)
    vae.compile(keras.optimizers.Adam(3e-3))
    hist = vae.fit(xb, batch_size=128, epochs=10, verbose=0)
    return vae, hist.history


@pytest.fixture(scope="module")
def trained_1d(digits):
    """A Bernoulli VAE with a one-dimensional latent, so log p(x) can be integrated on a grid."""
    _, xb, _ = digits
    keras.utils.set_random_seed(1)
    vae = small_vae(1, hidden=64, seed=1)
    vae.compile(keras.optimizers.Adam(3e-3))
    vae.fit(xb, batch_size=128, epochs=6, verbose=0)
    return vae


# ---------------------------------------------------------------- KL divergence
def kl_closed_form(m1, lv1, m2, lv2):
    """KL(N(m1, v1) || N(m2, v2)) per dimension, summed over the last axis (textbook formula)."""
    v1, v2 = np.exp(lv1), np.exp(lv2)
    per_dim = 0.5 * (np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1.0)
    return per_dim.sum(-1)


KL_CASES = [
    pytest.param(0.0, 0.0, id="standard-prior"),
    pytest.param(0.5, float(np.log(2.0)), id="scalar-prior"),
    pytest.param(
        np.array([-1.0, 0.0, 2.0], "float32"), np.array([0.3, -1.0, 1.2], "float32"), id="per-dim"
    ),
]


@pytest.mark.parametrize("prior_mean, prior_log_var", KL_CASES)
def test_gaussian_kl_matches_closed_form_and_monte_carlo(prior_mean, prior_log_var):
    mean = np.array([[0.0, 0.0, 0.0], [0.7, -1.3, 2.5], [-0.4, 0.9, 0.1]], "float32")
    log_var = np.array([[0.0, 0.0, 0.0], [-0.5, 0.8, -2.0], [1.0, -1.5, 0.2]], "float32")
    got = ops.convert_to_numpy(
        gaussian_kl(
            ops.convert_to_tensor(mean),
            ops.convert_to_tensor(log_var),
            prior_mean,
            prior_log_var,
        )
    )
    m1, lv1 = mean.astype("float64"), log_var.astype("float64")
    m2 = np.broadcast_to(np.asarray(prior_mean, "float64"), m1.shape)
    lv2 = np.broadcast_to(np.asarray(prior_log_var, "float64"), m1.shape)
    expected = kl_closed_form(m1, lv1, m2, lv2)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    # Monte Carlo: KL = E_q[log q(z) - log p(z)], z ~ q, with scipy's log densities.
    rng = np.random.default_rng(0)
    n = 200_000
    for i in range(len(mean)):
        s1, s2 = np.exp(lv1[i] / 2), np.exp(lv2[i] / 2)
        z = m1[i] + s1 * rng.standard_normal((n, mean.shape[1]))
        log_ratio = (norm.logpdf(z, m1[i], s1) - norm.logpdf(z, m2[i], s2)).sum(-1)
        se = log_ratio.std() / np.sqrt(n)
        assert abs(log_ratio.mean() - got[i]) < 5 * se + 1e-3, (i, log_ratio.mean(), got[i], se)


def test_gaussian_kl_is_zero_for_the_prior_itself():
    mean = ops.convert_to_tensor(np.full((2, 5), 0.5, "float32"))
    log_var = ops.convert_to_tensor(np.full((2, 5), -0.7, "float32"))
    got = ops.convert_to_numpy(gaussian_kl(mean, log_var, 0.5, -0.7))
    np.testing.assert_allclose(got, 0.0, atol=1e-6)


def test_gaussian_kl_accepts_numpy_float64_priors():
    mean = ops.convert_to_tensor(np.array([[0.2, -0.4]], "float32"))
    log_var = ops.convert_to_tensor(np.array([[0.1, -0.3]], "float32"))
    prior_mean, prior_log_var = np.array([0.5, 0.0]), np.log(np.array([2.0, 0.5]))  # float64
    got = gaussian_kl(mean, log_var, prior_mean, prior_log_var)
    assert ops.convert_to_numpy(got).dtype == np.float32
    expected = kl_closed_form(
        np.array([[0.2, -0.4]]), np.array([[0.1, -0.3]]), prior_mean, prior_log_var
    )
    np.testing.assert_allclose(ops.convert_to_numpy(got), expected, rtol=1e-5)


# ---------------------------------------------------------------- reconstruction terms
def test_bernoulli_reconstruction_nll_is_summed_binary_cross_entropy():
    vae = small_vae(2)
    rng = np.random.default_rng(0)
    x = rng.random((6, *SHAPE)).astype("float32")
    x[:3] = (x[:3] > 0.5).astype("float32")  # binary and grey targets
    logits = rng.normal(0.0, 4.0, (6, *SHAPE)).astype("float32")
    logits[0, 0, :4, 0] = [-30.0, 30.0, -15.0, 15.0]  # saturated logits stay finite
    got = ops.convert_to_numpy(
        vae.reconstruction_nll(ops.convert_to_tensor(x), ops.convert_to_tensor(logits))
    )
    expected = -np_log_bernoulli(x.astype("float64"), logits.astype("float64"))
    assert got.shape == (6,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gaussian_reconstruction_nll_is_summed_normal_log_density():
    sigma = 0.2
    vae = small_vae(2, likelihood="gaussian", sigma=sigma)
    rng = np.random.default_rng(1)
    x = rng.random((5, *SHAPE)).astype("float32")
    logits = rng.normal(0.0, 2.0, (5, *SHAPE)).astype("float32")
    got = ops.convert_to_numpy(
        vae.reconstruction_nll(ops.convert_to_tensor(x), ops.convert_to_tensor(logits))
    )
    expected = -norm.logpdf(x.astype("float64"), np_sigmoid(logits), sigma).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------- training and inference
def test_vae_trains_on_digits(trained):
    _, history = trained
    loss, recon, kl = history["vae_loss"], history["reconstruction"], history["kl"]
    assert len(loss) == 10 and np.all(np.isfinite(loss))
    assert loss[-1] < loss[0] - 5.0, loss  # nats per image
    assert recon[-1] < recon[0] - 5.0, recon
    # beta = 1 and no warm-up: the logged loss is reconstruction + KL.
    np.testing.assert_allclose(loss, np.add(recon, kl), rtol=1e-4)
    assert kl[-1] > 0.5, kl  # the code is used (no posterior collapse)


def test_sample_encoder_and_decoder(trained, digits):
    vae, _ = trained
    _, _, xtb = digits
    images = vae.sample(16, seed=0)
    assert images.shape == (16, *SHAPE) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(vae.sample(16, seed=0), images)  # seeded
    assert not np.allclose(vae.sample(16, seed=1), images)

    # encoder and decoder on their own
    z_mean, z_log_var = (ops.convert_to_numpy(t) for t in vae.encoder(xtb[:10]))
    assert z_mean.shape == z_log_var.shape == (10, 4)
    mean2, log_var2 = vae.encode(xtb[:10])
    np.testing.assert_allclose(mean2, z_mean, rtol=1e-5, atol=1e-6)
    logits = ops.convert_to_numpy(vae.decoder(z_mean))
    assert logits.shape == (10, *SHAPE)
    np.testing.assert_allclose(vae.decode(z_mean), np_sigmoid(logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vae.reconstruct(xtb[:10]), np_sigmoid(logits), atol=1e-6)
    # model(x) goes through a *sampled* code: probabilities of the right shape
    probs = ops.convert_to_numpy(vae(xtb[:10]))
    assert probs.shape == (10, *SHAPE) and probs.min() >= 0 and probs.max() <= 1
    # Reconstructions are better than the mean image (the code carries information).
    recon_err = np.mean((vae.reconstruct(xtb[:100]) - xtb[:100]) ** 2)
    mean_err = np.mean((xtb[:100].mean(0) - xtb[:100]) ** 2)
    assert recon_err < 0.9 * mean_err, (recon_err, mean_err)


# ---------------------------------------------------------------- ELBO and log-likelihood
def test_importance_sampled_log_likelihood_bounds(trained, digits):
    vae, _ = trained
    _, _, xtb = digits
    x = xtb[:40]
    elbo = vae.elbo(x, samples=200, seed=1)
    ll = vae.log_likelihood(x, k=500, seed=2)
    assert ll.shape == elbo.shape == (40,)
    assert np.all(ll < 0.0)  # log of a probability of binary images
    diff = ll - elbo
    # IWAE (k=500) >= ELBO in expectation; the mean gap is several standard errors above 0.
    assert diff.mean() > 3 * diff.std() / np.sqrt(len(diff)), diff


def test_log_likelihood_with_one_sample_is_the_elbo_in_expectation(trained, digits):
    vae, _ = trained
    _, _, xtb = digits
    x = np.repeat(xtb[:20], 100, axis=0)  # 2000 single-sample estimates
    ll1 = vae.log_likelihood(x, k=1, seed=4)
    elbo1 = vae.elbo(x, samples=1, seed=5, batch_size=2000)
    # Row by row the same image: the paired difference removes the spread between images.
    diff = ll1 - elbo1
    se = diff.std() / np.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * se + 1e-3, (ll1.mean(), elbo1.mean(), se)


def test_log_likelihood_and_elbo_against_numeric_integration(trained_1d, digits):
    """With a 1-d latent, log p(x) = log int p(x|z) N(z; 0, 1) dz and
    ELBO = int q(z|x) log p(x|z) dz - KL are computed on a dense grid of z."""
    vae = trained_1d
    _, _, xtb = digits
    x = xtb[:10].astype("float64")
    z = np.linspace(-9.0, 9.0, 6001)
    dz = z[1] - z[0]
    logits = ops.convert_to_numpy(vae.decoder(z[:, None].astype("float32"))).astype("float64")
    log_px_z = np_log_bernoulli(x[:, None], logits[None])  # (10, grid)
    log_joint = log_px_z + norm.logpdf(z)
    # The grid covers the posterior: the integrand is negligible at its ends.
    assert np.all(log_joint[:, [0, -1]].max(1) < log_joint.max(1) - 30)
    log_px = logsumexp(log_joint, axis=1) + np.log(dz)

    ll = vae.log_likelihood(x, k=2000, seed=0)
    assert np.all(np.abs(ll - log_px) < 0.5), np.c_[ll, log_px]
    assert np.mean(ll - log_px) < 0.1  # a lower bound (in expectation)

    mean, log_var = (a.astype("float64")[:, 0] for a in vae.encode(x))
    std = np.exp(0.5 * log_var)
    q = norm.pdf(z[None], mean[:, None], std[:, None]) * dz  # (10, grid) quadrature weights
    assert np.allclose(q.sum(1), 1.0, atol=1e-3)
    e_log_px_z = (q * log_px_z).sum(1)
    var_log_px_z = (q * (log_px_z - e_log_px_z[:, None]) ** 2).sum(1)
    kl = 0.5 * (std**2 + mean**2 - 1.0 - log_var)
    elbo_ref = e_log_px_z - kl
    samples = 200
    elbo = vae.elbo(x, samples=samples, seed=0)
    se = np.sqrt(var_log_px_z / samples)
    assert np.all(np.abs(elbo - elbo_ref) < 5 * se + 1e-3), np.c_[elbo, elbo_ref, se]
    assert np.all(elbo_ref <= log_px + 1e-6)  # the ELBO really is below log p(x)


# ---------------------------------------------------------------- KL warm-up
def shift_posterior_means(vae):
    """Move q(z|x) away from the prior (z_mean bias 1), so the KL term is large (~1.5 nats)
    and beta_t can be read off the logged values precisely."""
    bias = vae.encoder.get_layer("z_mean").bias
    bias.assign(np.ones(tuple(bias.shape), "float32"))


def test_kl_warmup_ramps_beta_linearly(digits):
    """One batch per epoch: each epoch logs exactly one step, whose loss is
    reconstruction + beta * min(1, step / warmup) * kl (step counted from 1)."""
    x, _, _ = digits
    keras.utils.set_random_seed(3)
    beta, warmup = 2.0, 3
    # The default conv architecture, with dynamic binarisation (the relation holds either way).
    vae = VAE(SHAPE, 3, beta=beta, kl_warmup_steps=warmup, binarize="dynamic", seed=3)
    shift_posterior_means(vae)
    vae.compile(keras.optimizers.Adam(1e-3))
    hist = vae.fit(x[:64], batch_size=64, epochs=4, verbose=0).history
    loss, recon, kl = (np.asarray(hist[k], "float64") for k in ("vae_loss", "reconstruction", "kl"))
    assert np.all(kl > 0.5), kl
    beta_t = (loss - recon) / kl
    np.testing.assert_allclose(beta_t, [2 / 3, 4 / 3, 2.0, 2.0], rtol=2e-3)
    assert int(ops.convert_to_numpy(vae.optimizers["vae"].iterations)) == 4


# ---------------------------------------------------------------- serialisation
def test_config_round_trip_decodes_the_same_images():
    vae = small_vae(3, likelihood="gaussian", sigma=0.3, beta=2.0, kl_warmup_steps=7, seed=9)
    clone = VAE.from_config(vae.get_config())
    assert (clone.likelihood, clone.sigma, clone.beta) == ("gaussian", 0.3, 2.0)
    assert (clone.kl_warmup_steps, clone.seed, clone.latent_dim) == (7, 9, 3)
    assert clone.image_shape == SHAPE
    z = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    clone.set_weights(vae.get_weights())
    np.testing.assert_allclose(clone.decode(z), vae.decode(z), atol=1e-6)


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_value_errors():
    vae = small_vae(4)
    with pytest.raises(ValueError, match=r"\(10, 10, 1\)"):
        vae.encode(np.zeros((2, 10, 10, 1), "float32"))
    with pytest.raises(ValueError, match=r"built for \(8, 8, 1\)"):
        vae.encode(np.zeros((8, 8, 1), "float32"))  # a single image without its batch axis
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        vae.decode(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        vae.decode(np.zeros((4,), "float32"))
    with pytest.raises(ValueError, match=r"\(8, 8, 3\)"):
        vae.log_likelihood(np.zeros((1, 8, 8, 3), "float32"), k=2)
    with pytest.raises(ValueError, match=r"\(4, 4, 1\)"):
        vae.elbo(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(SHAPE, 2, likelihood="poisson")
    with pytest.raises(ValueError, match="binarize"):
        VAE(SHAPE, 2, binarize="static")
    with pytest.raises(ValueError, match="multiples of 4"):
        VAE((10, 10, 1), 2)
    with pytest.raises(ValueError):
        VAE(SHAPE, 2, sigma=0.0)


def test_bfloat16_loss_is_close_to_float32(trained, digits):
    """A bfloat16 copy of the trained VAE (same weights, same seed) scores nearly the same
    negative ELBO: the network computes in bf16, the sums over pixels stay in float32."""
    from keraslab.engine.precision import precision

    vae32, _ = trained
    _, _, xtb = digits
    with precision("bfloat16"):
        vae16 = small_vae(4, hidden=128, seed=0)
    assert vae16.decoder.layers[-2].compute_dtype == "bfloat16"
    vae16.set_weights(vae32.get_weights())
    vae16.compile(keras.optimizers.Adam(3e-3))
    copy32 = small_vae(4, hidden=128, seed=0)  # float32, same seed as vae16 (same draws)
    copy32.set_weights(vae32.get_weights())
    copy32.compile(keras.optimizers.Adam(3e-3))
    loss16 = vae16.evaluate(xtb, batch_size=128, verbose=0, return_dict=True)["vae_loss"]
    loss32 = copy32.evaluate(xtb, batch_size=128, verbose=0, return_dict=True)["vae_loss"]
    assert np.isfinite(loss16)
    assert loss16 == pytest.approx(loss32, rel=0.02)
    assert loss16 != loss32  # it did compute in bfloat16


# ---------------------------------------------------------------- the mixture sampling prior
def test_mixture_prior_is_fitted_to_the_codes_and_kept_with_the_weights(trained, digits):
    vae, _ = trained
    _, xb, _ = digits
    mixed = small_vae(4, hidden=128, seed=0, prior_components=8)
    mixed.encoder.set_weights(vae.encoder.get_weights())
    mixed.decoder.set_weights(vae.decoder.get_weights())
    # unfitted: every component N(0, I), the standard prior's samples
    np.testing.assert_allclose(mixed.sample(16, seed=2), vae.sample(16, seed=2), atol=1e-6)
    mixed.fit_prior(xb, seed=0)
    codes = np.asarray(vae.encode(xb)[0], "float64")  # the posterior means, read independently
    z = mixed.prior_draws(100_000, seed=1)
    assert z.shape == (100_000, 4) and z.dtype == np.float32
    # EM's fixed point keeps the codes' mean and covariance (numpy on the codes)
    np.testing.assert_allclose(z.mean(0), codes.mean(0), atol=0.05 * codes.std(0).max())
    np.testing.assert_allclose(np.cov(z.T), np.cov(codes.T), atol=0.08 * codes.var(0).max())
    assert not np.allclose(np.cov(z.T), np.eye(4), atol=0.1)  # not the N(0, I) it started from
    np.testing.assert_allclose(mixed.sample(8, seed=5), mixed.decode(mixed.prior_draws(8, 5)))
    # kept with the weights and the config: a clone draws the same samples
    clone = VAE.from_config(mixed.get_config())
    assert clone.prior_components == 8
    clone.set_weights(mixed.get_weights())
    np.testing.assert_allclose(clone.sample(8, seed=5), mixed.sample(8, seed=5), atol=1e-6)
    with pytest.raises(ValueError, match="prior_components"):
        vae.fit_prior(xb)
    with pytest.raises(ValueError, match="prior_components"):
        small_vae(4, prior_components=-1)
