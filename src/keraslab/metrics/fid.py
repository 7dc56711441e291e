"""Fréchet Inception Distance (FID) and Kernel Inception Distance (KID).

Both metrics work on feature arrays (rows = samples, columns = features), for
example the 2048-d pool features of :class:`keraslab.metrics.InceptionFeatures`.
They only need numpy and scipy.

References:
    Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge
    to a Local Nash Equilibrium" (FID). Bińkowski et al. 2018, "Demystifying
    MMD GANs" (KID).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

__all__ = ["feature_statistics", "fid", "frechet_distance", "kid"]


def _check_features(features: np.ndarray, name: str, min_samples: int = 2) -> np.ndarray:
    """Validates a feature array and returns it as float64."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (samples, features), got shape {x.shape}; "
            "flatten it with x.reshape(len(x), -1)."
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}; convert it to float.")
    x = x.astype(np.float64, copy=False)
    if x.shape[0] < min_samples:
        raise ValueError(
            f"{name} has {x.shape[0]} sample(s) but at least {min_samples} are needed; "
            "pass more rows."
        )
    if x.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns (shape {x.shape}); pass features.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf values; remove or fix those rows first.")
    return x


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"feature dimensions differ: features_a has {a.shape[1]} columns, "
            f"features_b has {b.shape[1]}; extract both with the same feature extractor."
        )


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fits a Gaussian to a feature array.

    Args:
        features: Array of shape ``(n, d)``, one sample per row, ``n >= 2``.

    Returns:
        ``(mu, sigma)``: the mean, shape ``(d,)``, and the unbiased covariance
        (``ddof=1``), shape ``(d, d)``, both float64.

    Example:
        >>> mu, sigma = feature_statistics(np.random.randn(100, 4))
        >>> mu.shape, sigma.shape
        ((4,), (4, 4))
    """
    x = _check_features(features, "features")
    mu = x.mean(axis=0)
    sigma = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    return mu, sigma


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between two Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Computes ``||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 @ sigma2))``
    as in the TF/pytorch-fid reference: if the matrix square root is not
    finite it is recomputed with ``eps * I`` added to both covariances, and a
    negligible imaginary part (numerical noise) is dropped.

    Args:
        mu1: Mean of the first Gaussian, shape ``(d,)``.
        sigma1: Covariance of the first Gaussian, shape ``(d, d)``.
        mu2: Mean of the second Gaussian, shape ``(d,)``.
        sigma2: Covariance of the second Gaussian, shape ``(d, d)``.
        eps: Diagonal offset used only when the square root is not finite.

    Returns:
        The Fréchet distance as a Python float.

    Raises:
        ValueError: On mismatched shapes, or when ``sqrtm`` has a large
            imaginary component (covariances far from positive semi-definite).

    Example:
        >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
        2.0
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != (d,):
        raise ValueError(
            f"means must be 1-D with the same length, got {mu1.shape} and {mu2.shape}; "
            "pass feature means of the same dimension."
        )
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"covariances must have shape ({d}, {d}), got {sigma1.shape} and {sigma2.shape}; "
            "pass d x d covariance matrices matching the means."
        )
    for name, arr in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf values; fix the input statistics.")

    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected (few samples, dead
        # features); its square root is still exact enough, and a non-finite one is retried
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            max_imag = float(np.max(np.abs(covmean.imag)))
            raise ValueError(
                f"sqrtm(sigma1 @ sigma2) has a large imaginary component ({max_imag:.3g}); "
                "check that both covariances are positive semi-definite (use more samples)."
            )
        covmean = covmean.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(value)


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature arrays (FID).

    Args:
        features_a: Array of shape ``(n_a, d)``, e.g. Inception features of
            real images; ``n_a >= 2``.
        features_b: Array of shape ``(n_b, d)``, e.g. features of generated
            images; ``n_b >= 2``.

    Returns:
        The FID (lower is better; 0 for identical statistics).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(500, 8))
        >>> fid(a, a) < 1e-6
        True
    """
    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    _check_same_dim(a, b)
    mu_a, sigma_a = feature_statistics(a)
    mu_b, sigma_b = feature_statistics(b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the kernel ``k(u, v) = (u·v / d + 1)^3``."""
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    term_xy = k_xy.sum() / (m * n)
    return float(term_xx + term_yy - 2.0 * term_xy)


def kid(
    features_a: np.ndarray,
    features_b: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased polynomial-kernel MMD² over random subsets.

    For each of ``subsets`` rounds, ``subset_size`` rows are drawn without
    replacement from each array and the unbiased MMD² estimate with the cubic
    kernel ``k(x, y) = (x·y / d + 1)^3`` is computed (Bińkowski et al. 2018,
    as in torch-fidelity). An array with at most ``subset_size`` rows is used
    whole; when both are, a single subset of all rows is used (std 0).

    Args:
        features_a: Array of shape ``(n_a, d)``, ``n_a >= 2``.
        features_b: Array of shape ``(n_b, d)``, ``n_b >= 2``.
        subsets: Number of random subsets to average over (>= 1).
        subset_size: Rows drawn per subset from each array (>= 2).
        seed: Seed of the subset sampler (``numpy.random.default_rng``).

    Returns:
        ``(mean, std)`` of the MMD² estimates over subsets (std with ddof=0).
        The mean can be slightly negative because the estimator is unbiased.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mean, std = kid(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)))
        >>> abs(mean) < 0.1
        True
    """
    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    _check_same_dim(a, b)
    if int(subsets) < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}; pass a positive number.")
    if int(subset_size) < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}; pass at least 2.")
    size_a = min(int(subset_size), a.shape[0])
    size_b = min(int(subset_size), b.shape[0])
    if size_a == a.shape[0] and size_b == b.shape[0]:
        return _polynomial_mmd2_unbiased(a, b), 0.0

    rng = np.random.default_rng(seed)
    values = np.empty(int(subsets), dtype=np.float64)
    for i in range(int(subsets)):
        xa = a if size_a == a.shape[0] else a[rng.choice(a.shape[0], size_a, replace=False)]
        xb = b if size_b == b.shape[0] else b[rng.choice(b.shape[0], size_b, replace=False)]
        values[i] = _polynomial_mmd2_unbiased(xa, xb)
    return float(values.mean()), float(values.std())
