"""Baselines of Gu, Kelly & Xiu (2021) for the conditional autoencoder, in numpy:

- :class:`IPCA`: instrumented PCA (Kelly, Pruitt & Su 2019), ``beta_{i,t-1} = z_{i,t-1}' Gamma``,
  fitted by the ``ipca`` package from PyPI (``InstrumentedPCA``, no intercept);
- :class:`PCA`: static loadings from the principal components of the returns panel;
- :class:`ObservableFactors`: given factors (e.g. Fama-French MktRF, SMB, HML, Mom) with
  time-series betas per asset; :func:`sorted_factors` builds Fama-French-style ones (the
  equal-weighted market and top-minus-bottom tercile spreads) from any panel.

Every estimator has ``fit(train, val)`` (the baselines have nothing to tune and fit on both),
``betas(panel)`` and ``factors(panel)``, each a list with one array per ensemble member, so
:func:`out_of_sample_predictions` treats them and :class:`~keraslab.models.asset_pricing.CAEnsemble`
alike. Out of sample, the factors of month t are the cross-sectional regression of ``r_t`` on the
betas (IPCA, PCA) or the observed factor values.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from keraslab.data.finance import Panel
from keraslab.errors import UserError
from keraslab.metrics.asset_pricing import fitted_returns, prevailing_mean


def _concat(a: Panel, b: Panel) -> Panel:
    width = max(a.returns.shape[1], b.returns.shape[1])

    def pad(x, fill):
        extra = width - x.shape[1]
        if not extra:
            return x
        shape = (x.shape[0], extra) + x.shape[2:]
        return np.concatenate([x, np.full(shape, fill, x.dtype)], axis=1)

    return Panel(
        np.concatenate([pad(a.characteristics, 0), pad(b.characteristics, 0)]),
        np.concatenate([pad(a.returns, np.nan), pad(b.returns, np.nan)]),
        np.concatenate([pad(a.assets, -1), pad(b.assets, -1)]),
        np.concatenate([a.dates, b.dates]),
        a.characteristic_names,
        a.asset_names,
        {k: np.concatenate([v, b.factors[k]]) for k, v in a.factors.items()},
    )


def cross_sectional_factors(betas, returns) -> np.ndarray:
    """Each month's least-squares regression of the returns on the betas: (T, K)."""
    out = np.zeros((betas.shape[0], betas.shape[2]))
    for t in range(betas.shape[0]):
        ok = ~np.isnan(returns[t])
        out[t] = np.linalg.lstsq(betas[t, ok], returns[t, ok], rcond=None)[0]
    return out


class IPCA:
    """Instrumented PCA through the ``ipca`` package (its progress output is silenced)."""

    def __init__(self, n_factors: int, max_iter: int = 10000, tolerance: float = 1e-5):
        self.n_factors, self.max_iter, self.tolerance = n_factors, max_iter, tolerance
        self.gamma = None

    def fit(self, train: Panel, val: Panel | None = None) -> IPCA:
        try:
            from ipca import InstrumentedPCA
        except ImportError:
            raise UserError("the IPCA baseline needs the ipca package: pip install ipca") from None
        panel = train if val is None else _concat(train, val)
        ok = panel.mask
        t_idx = np.broadcast_to(np.arange(panel.n_months)[:, None], ok.shape)[ok]
        indices = np.stack([panel.assets[ok], t_idx], axis=1)
        reg = InstrumentedPCA(
            n_factors=self.n_factors,
            intercept=False,
            max_iter=self.max_iter,
            iter_tol=self.tolerance,
        )
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            reg.fit(
                X=panel.characteristics[ok].astype("float64"),
                y=panel.returns[ok].astype("float64"),
                indices=indices,
                data_type="panel",
            )
            gamma, _ = reg.get_factors(label_ind=False)
        self.gamma = np.asarray(gamma, "float64")  # (P, K)
        return self

    def betas(self, panel: Panel) -> list[np.ndarray]:
        return [np.einsum("tnp,pk->tnk", panel.characteristics.astype("float64"), self.gamma)]

    def factors(self, panel: Panel) -> list[np.ndarray]:
        return [cross_sectional_factors(self.betas(panel)[0], panel.returns)]


class PCA:
    """Static loadings: the first K right singular vectors of the (months x assets) return
    matrix of the fitting window (missing returns as 0). An asset unseen there has beta 0."""

    def __init__(self, n_factors: int):
        self.n_factors = n_factors
        self.loadings = None

    def fit(self, train: Panel, val: Panel | None = None) -> PCA:
        panel = train if val is None else _concat(train, val)
        grid = np.zeros((panel.n_months, len(panel.asset_names)))
        ok = panel.mask
        t_idx = np.broadcast_to(np.arange(panel.n_months)[:, None], ok.shape)
        grid[t_idx[ok], panel.assets[ok]] = panel.returns[ok]
        _, _, vt = np.linalg.svd(grid, full_matrices=False)
        self.loadings = vt[: self.n_factors].T  # (n_assets, K)
        return self

    def betas(self, panel: Panel) -> list[np.ndarray]:
        table = np.concatenate([self.loadings, np.zeros((1, self.n_factors))])  # row -1: padding
        return [table[panel.assets]]

    def factors(self, panel: Panel) -> list[np.ndarray]:
        return [cross_sectional_factors(self.betas(panel)[0], panel.returns)]


class ObservableFactors:
    """Observed factors ``panel.factors[name]`` (the first ``n_factors`` of ``names``) with
    betas from each asset's time-series regression (no intercept) over the fitting window."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.loadings = None

    @property
    def n_factors(self) -> int:
        return len(self.names)

    def _f(self, panel: Panel) -> np.ndarray:
        return np.stack([panel.factors[k] for k in self.names], axis=1).astype("float64")

    def fit(self, train: Panel, val: Panel | None = None) -> ObservableFactors:
        panel = train if val is None else _concat(train, val)
        f = self._f(panel)
        self.loadings = np.zeros((len(panel.asset_names), self.n_factors))
        ok = panel.mask
        for a in np.unique(panel.assets[ok]):
            t, j = np.nonzero((panel.assets == a) & ok)
            if len(t) >= self.n_factors:
                self.loadings[a] = np.linalg.lstsq(f[t], panel.returns[t, j], rcond=None)[0]
        return self

    def betas(self, panel: Panel) -> list[np.ndarray]:
        table = np.concatenate([self.loadings, np.zeros((1, self.n_factors))])
        return [table[panel.assets]]

    def factors(self, panel: Panel) -> list[np.ndarray]:
        return [self._f(panel)]


def sorted_factors(panel: Panel, fit_months: int, n_factors: int) -> tuple[dict, list[str]]:
    """Fama-French-style factors for a panel without observed ones: the equal-weighted market
    and, for each characteristic, the mean return of its top third minus its bottom third. The
    ``n_factors - 1`` spreads with the largest absolute Sharpe ratio over the first
    ``fit_months`` months are kept (chosen in sample only). Returns ``(factors, names)``."""
    z, r, ok = panel.characteristics, panel.returns, panel.mask
    market = np.array([r[t, ok[t]].mean() for t in range(panel.n_months)])
    spreads = {}
    for p, name in enumerate(panel.characteristic_names):
        if name == "const":
            continue
        s = np.zeros(panel.n_months)
        for t in range(panel.n_months):
            c, rt = z[t, ok[t], p], r[t, ok[t]]
            lo, hi = np.quantile(c, [1 / 3, 2 / 3])
            top, bottom = rt[c >= hi], rt[c <= lo]
            s[t] = (top.mean() if len(top) else 0.0) - (bottom.mean() if len(bottom) else 0.0)
        spreads[f"hml_{name}"] = s
    head = slice(0, fit_months)
    sharpe = {k: abs(v[head].mean()) / (v[head].std() + 1e-12) for k, v in spreads.items()}
    chosen = sorted(sharpe, key=sharpe.get, reverse=True)[: max(n_factors - 1, 0)]
    factors = {"market": market, **{k: spreads[k] for k in chosen}}
    return factors, ["market", *chosen]


def out_of_sample_predictions(
    estimator, test: Panel, history: Panel
) -> tuple[np.ndarray, np.ndarray]:
    """``(total, predictive)`` predicted returns (T, N) on ``test``, averaged over the members:
    ``beta_{t-1}' f_t`` and ``beta_{t-1}' lambda_{t-1}``, where ``lambda_{t-1}`` averages the
    member's factors over ``history`` (every month before the test window) and the test months
    before t."""
    betas, factors, past = (
        estimator.betas(test),
        estimator.factors(test),
        estimator.factors(history),
    )
    total = np.mean([fitted_returns(b, f) for b, f in zip(betas, factors)], axis=0)
    predictive = np.mean(
        [fitted_returns(b, prevailing_mean(f, h)) for b, f, h in zip(betas, factors, past)], axis=0
    )
    return total, predictive
