"""A Gaussian mixture as a sampling prior: fitted to an autoencoder's codes of the training images
after training, then sampled in place of N(0, I).

A VAE's decoder draws good images from the codes its encoder gives real images, and worse ones
from prior draws that fall where no training image's code lies (the "holes" of the aggregate
posterior). Fitting a density to the codes after training and sampling from it closes most of
that gap: the ex-post density estimation of Ghosh et al. (2020), a cheap stand-in for the second
VAE of the two-stage VAE (Dai & Wipf, 2019). The training objective, the ELBO and the
log-likelihood are unchanged: the mixture is used for sampling only.

The parameters are plain arrays (log mixture weights ``(k,)``, means ``(k, d)``, lower Cholesky
factors of the covariances ``(k, d, d)``), so a model can keep them as non-trainable weights in
its checkpoints; fitting uses scikit-learn, sampling only numpy.

References: P. Ghosh, M. S. M. Sajjadi, A. Vergari, M. Black, B. Schölkopf, "From Variational to
Deterministic Autoencoders", ICLR 2020 (section 4, ex-post density estimation); B. Dai, D. Wipf,
"Diagnosing and Enhancing VAE Models", ICLR 2019.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_mixture", "mixture_draws"]


def fit_mixture(
    codes, components: int, seed: int = 0, max_iter: int = 100, reg_covar: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a full-covariance Gaussian mixture to ``codes`` by EM (k-means start, seeded).

    Args:
        codes: ``(n, d)`` array, ``n >= components``.
        components: number of mixture components ``k``.
        seed: seed of the k-means initialisation (the same codes and seed give the same fit).
        max_iter: EM iterations at most.
        reg_covar: added to every covariance's diagonal (keeps them positive definite).

    Returns:
        ``(log_weights (k,), means (k, d), cholesky (k, d, d))`` in float32; ``cholesky[j]`` is
        the lower-triangular factor of component ``j``'s covariance.

    Example:
        >>> codes = np.random.default_rng(0).normal(size=(500, 2))
        >>> log_w, means, chol = fit_mixture(codes, 3)
        >>> log_w.shape, means.shape, chol.shape
        ((3,), (3, 2), (3, 2, 2))
    """
    from sklearn.mixture import GaussianMixture

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < int(components) or int(components) < 1:
        raise ValueError(
            f"codes must be (n, d) with n >= components >= 1, got {codes.shape} for "
            f"{components} components."
        )
    gm = GaussianMixture(
        int(components),
        covariance_type="full",
        max_iter=int(max_iter),
        reg_covar=float(reg_covar),
        random_state=int(seed),
    ).fit(codes)
    return (
        np.log(gm.weights_).astype(np.float32),
        gm.means_.astype(np.float32),
        np.linalg.cholesky(gm.covariances_).astype(np.float32),
    )


def mixture_draws(log_weights, means, cholesky, n: int, seed: int | None = 0) -> np.ndarray:
    """``n`` draws from the mixture, float32 ``(n, d)``.

    The standard-normal noise is drawn first (``default_rng(seed).standard_normal((n, d))``, the
    same numbers a N(0, I) prior draws from that seed), then one uniform per draw picks its
    component; a draw is ``means[j] + cholesky[j] @ noise``. A mixture whose components are all
    N(0, I) therefore gives exactly the standard prior's draws.

    Example:
        >>> z = mixture_draws(np.zeros(1), np.zeros((1, 4)), np.eye(4)[None], n=3)
        >>> np.allclose(z, np.random.default_rng(0).standard_normal((3, 4)))
        True
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    cholesky = np.asarray(cholesky, dtype=np.float64)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((int(n), means.shape[1]))
    weights = np.exp(log_weights - log_weights.max())
    cumulative = np.cumsum(weights / weights.sum())
    which = np.minimum(
        np.searchsorted(cumulative, rng.random(int(n)), side="right"), len(means) - 1
    )
    z = means[which] + np.einsum("nij,nj->ni", cholesky[which], noise)
    return z.astype(np.float32)
