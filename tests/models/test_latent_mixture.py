"""The mixture sampling prior's numpy parts against numbers written out by hand: draws with the
mixture's mean and covariance, a known mixture recovered by the fit."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.models.latent_mixture import fit_mixture, mixture_draws

WEIGHTS = np.array([0.2, 0.5, 0.3])
MEANS = np.array([[-4.0, 0.0], [3.0, 3.0], [2.0, -4.0]])
COVS = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 1.5]], [[0.8, -0.5], [-0.5, 0.9]]])


def draw_by_hand(n, seed):
    """Component by the weights, then mean + Cholesky factor @ normal noise (numpy only)."""
    rng = np.random.default_rng(seed)
    which = rng.choice(3, size=n, p=WEIGHTS)
    noise = rng.standard_normal((n, 2))
    chol = np.linalg.cholesky(COVS)
    return MEANS[which] + np.einsum("nij,nj->ni", chol[which], noise), which


def test_draws_have_the_mixtures_mean_and_covariance():
    chol = np.linalg.cholesky(COVS)
    z = mixture_draws(np.log(WEIGHTS), MEANS, chol, n=200_000, seed=3)
    assert z.shape == (200_000, 2) and z.dtype == np.float32
    mean = WEIGHTS @ MEANS  # the law of total expectation and of total covariance
    second = np.einsum("k,kij->ij", WEIGHTS, COVS + np.einsum("ki,kj->kij", MEANS, MEANS))
    np.testing.assert_allclose(z.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(z.T), second - np.outer(mean, mean), atol=0.05)
    # each component's share: the nearest mean decides (the components barely overlap)
    nearest = np.argmin(((z[:, None, :] - MEANS[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(np.bincount(nearest) / len(z), WEIGHTS, atol=0.01)
    again = mixture_draws(np.log(WEIGHTS), MEANS, chol, 50, seed=4)  # seeded
    np.testing.assert_array_equal(mixture_draws(np.log(WEIGHTS), MEANS, chol, 50, seed=4), again)
    assert not np.allclose(mixture_draws(np.log(WEIGHTS), MEANS, chol, 50, seed=5), again)


def test_unnormalised_log_weights_and_the_standard_prior():
    chol = np.linalg.cholesky(COVS)
    a = mixture_draws(np.log(WEIGHTS), MEANS, chol, n=100, seed=0)
    b = mixture_draws(np.log(WEIGHTS) + 7.0, MEANS, chol, n=100, seed=0)
    np.testing.assert_array_equal(a, b)
    # components that are all N(0, I): the standard prior's draws from the same seed
    d = 5
    z = mixture_draws(np.zeros(4), np.zeros((4, d)), np.tile(np.eye(d), (4, 1, 1)), 64, seed=11)
    expected = np.random.default_rng(11).standard_normal((64, d)).astype("float32")
    np.testing.assert_array_equal(z, expected)


def test_fit_recovers_a_known_mixture():
    codes, _ = draw_by_hand(6000, seed=1)
    log_w, means, chol = fit_mixture(codes, 3, seed=0)
    order = [int(np.argmin(((means - m) ** 2).sum(1))) for m in MEANS]
    assert sorted(order) == [0, 1, 2], means
    np.testing.assert_allclose(np.exp(log_w)[order], WEIGHTS, atol=0.02)
    np.testing.assert_allclose(means[order], MEANS, atol=0.1)
    covs = np.einsum("kij,klj->kil", chol, chol)[order]
    np.testing.assert_allclose(covs, COVS, atol=0.12)
    assert np.allclose(np.triu(chol, 1), 0)  # lower-triangular factors
    again = fit_mixture(codes, 3, seed=0)  # seeded: the same fit
    for x, y in zip(again, (log_w, means, chol)):
        np.testing.assert_array_equal(x, y)


def test_fit_refuses_fewer_codes_than_components():
    with pytest.raises(ValueError, match="n >= components"):
        fit_mixture(np.zeros((3, 2)), 5)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        fit_mixture(np.zeros(10), 2)
