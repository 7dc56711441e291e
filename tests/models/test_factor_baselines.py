"""Baselines of the asset-pricing autoencoder: IPCA (the ipca package) recovers a linear factor
space; out-of-sample predictions agree with the metrics' formulas."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.data.finance import simulate_panel
from keraslab.metrics.asset_pricing import principal_angles, r2_no_demean, total_r2
from keraslab.models.factor_models import IPCA, PCA, ObservableFactors, out_of_sample_predictions


@pytest.fixture(scope="module")
def linear_panel():
    return simulate_panel(
        truth="linear", n_assets=100, n_months=120, n_characteristics=10, noise_std=0.02, seed=3
    )


@pytest.mark.slow  # numba compiles the ipca package on first use (~10 s)
def test_ipca_recovers_the_factor_space(linear_panel):
    p = linear_panel
    ipca = IPCA(3).fit(p.months(0, 90), p.months(90, 120))
    assert np.degrees(principal_angles(ipca.factors(p)[0], p.truth["factors"])).max() < 10
    # Gamma spans the three true characteristics (and little of the others)
    assert np.degrees(principal_angles(ipca.gamma, np.eye(11)[:, :3])).max() < 2
    test = p.months(100, 120)
    total, _ = out_of_sample_predictions(ipca, test, p.months(0, 100))
    assert np.isclose(
        r2_no_demean(test.returns, total),
        total_r2(test.returns, ipca.betas(test)[0], ipca.factors(test)[0]),
    )


def test_observable_factor_betas_are_time_series_regressions():
    rng = np.random.default_rng(0)
    p = simulate_panel(truth="linear", n_assets=20, n_months=60, n_characteristics=4, seed=1)
    f = rng.standard_normal((60, 2)) * 0.05
    true_b = rng.standard_normal((20, 2))
    p.returns = (f @ true_b.T + 0.001 * rng.standard_normal((60, 20))).astype("float32")
    p.factors = {"a": f[:, 0], "b": f[:, 1]}
    est = ObservableFactors(["a", "b"]).fit(p.months(0, 40), p.months(40, 50))
    np.testing.assert_allclose(est.loadings, true_b, atol=0.02)
    # PCA with two components spans the same return space
    pca = PCA(2).fit(p.months(0, 40), p.months(40, 50))
    assert np.degrees(principal_angles(pca.loadings, true_b)).max() < 2
