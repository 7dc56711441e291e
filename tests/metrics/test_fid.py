"""Tests of keraslab.metrics.fid (FID and KID on feature arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.metrics import feature_statistics, fid, frechet_distance, kid

# ---------------------------------------------------------------------------- FID


def test_frechet_distance_1d_closed_form():
    # N(0, 1) vs N(m, s^2): m^2 + (1 - s)^2
    m, s = 0.7, 2.5
    got = frechet_distance(np.zeros(1), np.eye(1), np.array([m]), np.array([[s * s]]))
    assert got == pytest.approx(m**2 + (1 - s) ** 2, rel=1e-9)


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    d = 12
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a, b = rng.uniform(0.1, 3.0, size=d), rng.uniform(0.1, 3.0, size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_2x2_non_commuting_by_hand():
    # For a 2x2 matrix M with positive eigenvalues, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)).
    s1 = np.array([[2.0, 0.6], [0.6, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 0.5]])
    assert not np.allclose(s1 @ s2, s2 @ s1)  # really non-commuting
    mu1, mu2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    prod = s1 @ s2
    det = prod[0, 0] * prod[1, 1] - prod[0, 1] * prod[1, 0]
    tr_sqrt = np.sqrt(prod[0, 0] + prod[1, 1] + 2 * np.sqrt(det))
    expected = (0.5**2 + 2.5**2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_eigendecomposition_reference():
    # Tr sqrt(S1 S2) = Tr sqrt(S1^1/2 S2 S1^1/2), the latter symmetric PSD -> eigh.
    rng = np.random.default_rng(1)
    d = 6
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    w, v = np.linalg.eigh(s1)
    s1_half = (v * np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(s1_half @ s2 @ s1_half)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.sum(np.sqrt(inner))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_large_imaginary_part_raises():
    # sqrtm(diag(-1, 1)) = diag(i, 1): not a valid covariance product.
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([-1.0, 1.0]))


def test_feature_statistics_uses_ddof_1():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3))
    mu, sigma = feature_statistics(x)
    centred = x - x.mean(axis=0)
    np.testing.assert_allclose(mu, x.sum(axis=0) / 50, rtol=1e-12)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-12)


def test_fid_matches_statistics_formula():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 4))
    b = rng.normal(loc=0.5, scale=1.5, size=(200, 4))
    mu_a, s_a = a.mean(0), np.cov(a, rowvar=False, ddof=1)
    mu_b, s_b = b.mean(0), np.cov(b, rowvar=False, ddof=1)
    assert fid(a, b) == pytest.approx(frechet_distance(mu_a, s_a, mu_b, s_b), rel=1e-12)
    # the Gaussian limit is 4 * 0.5^2 + 4 * (1 - 1.5)^2 = 2; sample estimate is near it
    assert fid(a, b) == pytest.approx(2.0, abs=0.6)


def test_fid_of_set_with_itself_is_zero():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(1000, 32)) @ rng.normal(size=(32, 32))
    assert abs(fid(a, a)) < 1e-6


def test_fid_grows_with_noise():
    rng = np.random.default_rng(5)
    d = 16
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = rng.normal(size=(3000, d)) @ mix
    b = rng.normal(size=(3000, d)) @ mix
    noise = rng.normal(size=b.shape)
    values = [fid(a, b + level * noise) for level in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)]
    assert np.all(np.diff(values) > 0), values
    assert values[0] < 0.5 * values[1]


def test_fid_fewer_samples_than_dims_is_finite():
    rng = np.random.default_rng(6)
    value = fid(rng.normal(size=(5, 10)), rng.normal(size=(6, 10)))
    assert np.isfinite(value) and value > -1e-6


# ---------------------------------------------------------------------------- KID


def _kernel(x, y):
    d = len(x)
    return (sum(x[k] * y[k] for k in range(d)) / d + 1.0) ** 3


def _mmd2_unbiased_loops(x, y):
    """Unbiased MMD^2, written with explicit loops (the reference)."""
    m, n = len(x), len(y)
    xx = sum(_kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(_kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(_kernel(x[i], y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


def test_kid_single_subset_equals_loop_reference():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(7, 3)).tolist()
    y = (rng.normal(size=(9, 3)) + 0.3).tolist()
    mean, std = kid(np.array(x), np.array(y), subset_size=1000)
    assert mean == pytest.approx(_mmd2_unbiased_loops(x, y), rel=1e-10, abs=1e-12)
    assert std == 0.0


def test_kid_subsets_equal_loop_reference():
    # Subsets: for each one, draw subset_size rows of a then of b, without replacement,
    # with numpy.random.default_rng(seed).choice.
    rng = np.random.default_rng(8)
    a = rng.normal(size=(20, 4))
    b = rng.normal(size=(15, 4)) * 1.3
    subsets, size, seed = 6, 5, 11
    sampler = np.random.default_rng(seed)
    ref = []
    for _ in range(subsets):
        ia = sampler.choice(len(a), size, replace=False)
        ib = sampler.choice(len(b), size, replace=False)
        ref.append(_mmd2_unbiased_loops(a[ia].tolist(), b[ib].tolist()))
    mean, std = kid(a, b, subsets=subsets, subset_size=size, seed=seed)
    assert mean == pytest.approx(np.mean(ref), rel=1e-10)
    assert std == pytest.approx(np.std(ref), rel=1e-8)
    assert std > 0
    assert kid(a, b, subsets=subsets, subset_size=size, seed=seed + 1)[0] != mean


def test_kid_identical_distributions_zero_on_average():
    rng = np.random.default_rng(9)
    same, shifted = [], []
    for _ in range(30):
        a = rng.normal(size=(100, 8))
        b = rng.normal(size=(100, 8))
        same.append(kid(a, b, subset_size=100)[0])
        shifted.append(kid(a, b + 0.5, subset_size=100)[0])
    same = np.array(same)
    standard_error = same.std(ddof=1) / np.sqrt(len(same))
    assert abs(same.mean()) < 4 * standard_error
    assert np.mean(shifted) > 10 * standard_error + abs(same.mean())


# ---------------------------------------------------------------------------- errors


def _one_line(excinfo):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


@pytest.mark.parametrize("metric", [fid, kid])
def test_bad_inputs_raise_clear_errors(metric):
    good = np.zeros((10, 4)) + np.arange(4)
    good = good + np.random.default_rng(0).normal(size=good.shape)
    with pytest.raises(ValueError, match="2-D") as e:
        metric(np.zeros(10), good)
    _one_line(e)
    with pytest.raises(ValueError, match="2-D"):
        metric(good, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="feature dimensions differ") as e:
        metric(good, good[:, :3])
    _one_line(e)
    with pytest.raises(ValueError, match="at least 2") as e:
        metric(good[:1], good)
    _one_line(e)
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN") as e:
        metric(good, bad)
    _one_line(e)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        metric(bad, good)


def test_kid_bad_subset_arguments():
    x = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="subset_size"):
        kid(x, x, subset_size=1)
    with pytest.raises(ValueError, match="subsets"):
        kid(x, x, subsets=0, subset_size=5)


def test_frechet_distance_shape_errors():
    with pytest.raises(ValueError, match="same length"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="covariances must have shape"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
