"""Total and predictive R^2 (Gu, Kelly & Xiu: no demeaning) against a direct loop, and principal
angles against scipy."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from keraslab.metrics.asset_pricing import (
    predictive_r2,
    prevailing_mean,
    principal_angles,
    total_r2,
)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    t, n, k = 7, 9, 2
    r = rng.standard_normal((t, n)) * 0.1
    r[2, 4] = np.nan
    return (
        r,
        rng.standard_normal((t, n, k)),
        rng.standard_normal((t, k)) * 0.05,
        rng.standard_normal((3, k)),
    )


def test_total_r2_equals_a_direct_loop():
    r, b, f, _ = _data()
    num = den = 0.0
    for t in range(r.shape[0]):
        for i in range(r.shape[1]):
            if np.isnan(r[t, i]):
                continue
            fit = sum(b[t, i, j] * f[t, j] for j in range(f.shape[1]))
            num += (r[t, i] - fit) ** 2
            den += r[t, i] ** 2  # not demeaned
    assert np.isclose(total_r2(r, b, f), 1 - num / den)


def test_predictive_r2_uses_the_mean_of_earlier_factors_only():
    r, b, f, history = _data(1)
    num = den = 0.0
    for t in range(r.shape[0]):
        past = np.concatenate([history, f[:t]])  # months before t
        lam = past.mean(axis=0)
        for i in range(r.shape[1]):
            if not np.isnan(r[t, i]):
                num += (r[t, i] - b[t, i] @ lam) ** 2
                den += r[t, i] ** 2
    assert np.isclose(predictive_r2(r, b, f, history), 1 - num / den)
    # with no history the first month has no estimate yet (zeros), the second uses f[0]
    lam = prevailing_mean(f)
    assert np.all(lam[0] == 0) and np.allclose(lam[1], f[0]) and np.allclose(lam[3], f[:3].mean(0))


def test_principal_angles_match_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    np.testing.assert_allclose(
        principal_angles(a, b), np.sort(scipy.linalg.subspace_angles(a, b)), atol=1e-8
    )
    rotated = a @ rng.standard_normal((3, 3))  # same column space
    assert principal_angles(a, rotated).max() < 1e-6
