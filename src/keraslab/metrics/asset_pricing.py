"""Gu, Kelly & Xiu (2021) fit measures, over all (asset, month) pairs of an out-of-sample period,
*not* demeaned (the denominator is the sum of squared returns):

- total R^2 = 1 - sum (r_it - beta_{i,t-1}' f_t)^2 / sum r_it^2  (realised factors of month t);
- predictive R^2 = 1 - sum (r_it - beta_{i,t-1}' lambda_{t-1})^2 / sum r_it^2, where
  lambda_{t-1} is the average of the factor estimates up to month t-1.

Missing returns (NaN) are left out. Numpy only.
"""

from __future__ import annotations

import numpy as np


def r2_no_demean(returns, predicted) -> float:
    """``1 - sum (r - rhat)^2 / sum r^2`` over the entries where ``returns`` is not NaN."""
    r = np.asarray(returns, "float64")
    p = np.asarray(predicted, "float64")
    ok = ~np.isnan(r)
    return float(1.0 - np.sum((r[ok] - p[ok]) ** 2) / np.sum(r[ok] ** 2))


def fitted_returns(betas, factors) -> np.ndarray:
    """``beta_{i,t-1}' f_t``: betas (T, N, K), factors (T, K) -> (T, N)."""
    return np.einsum("tnk,tk->tn", np.asarray(betas, "float64"), np.asarray(factors, "float64"))


def prevailing_mean(factors, history=None) -> np.ndarray:
    """``lambda_{t-1}`` for each month t of ``factors`` (T, K): the mean of the factor estimates
    of all months before t, including the ``history`` (H, K) of months before the first. The first
    month with no history gets zeros."""
    f = np.asarray(factors, "float64")
    h = np.zeros((0, f.shape[1])) if history is None else np.asarray(history, "float64")
    allf = np.concatenate([h, f])
    csum = np.cumsum(allf, axis=0)
    out = np.zeros_like(f)
    for t in range(len(f)):
        n = len(h) + t
        if n:
            out[t] = csum[n - 1] / n
    return out


def total_r2(returns, betas, factors) -> float:
    return r2_no_demean(returns, fitted_returns(betas, factors))


def predictive_r2(returns, betas, factors, history=None) -> float:
    return r2_no_demean(returns, fitted_returns(betas, prevailing_mean(factors, history)))


def principal_angles(a, b) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of ``a`` and ``b``."""
    qa, _ = np.linalg.qr(np.asarray(a, "float64"))
    qb, _ = np.linalg.qr(np.asarray(b, "float64"))
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(s, -1.0, 1.0)))
