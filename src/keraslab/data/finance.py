"""Panels of asset returns and characteristics for the conditional autoencoder of Gu, Kelly & Xiu
(2021), "Autoencoder asset pricing models", Journal of Econometrics 222(1).

A :class:`Panel` pairs each month's returns ``r_t`` with the characteristics ``z_{t-1}`` known
before that month, one row per asset present. Months are padded to the same number of rows: a
padded row has return NaN, characteristics 0 and asset index -1. Three sources:

- :func:`simulate_panel`: the paper's Monte Carlo design (persistent characteristics, rank
  normalised each month; returns from a known linear or nonlinear beta function and latent
  factors), so the truth is known;
- :func:`load_panel`: a user's CSV or Parquet file (date, asset id, characteristics..., return),
  rank-normalised to [-1, 1] per month as in the paper, missing values set to the cross-sectional
  median (0 after ranking);
- :func:`french_portfolios`: the 28 Fama-French portfolios (linearmodels) as assets, with
  characteristics computed from their own past returns, and the Fama-French factors.

No Keras here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keraslab.errors import UserError


@dataclass
class Panel:
    """Returns and lagged characteristics, one padded block per month.

    ``characteristics[t, j]`` (P values) are known before ``returns[t, j]`` is earned;
    ``assets[t, j]`` indexes ``asset_names`` (-1: padding, whose return is NaN).
    """

    characteristics: np.ndarray  # (T, N, P) float32
    returns: np.ndarray  # (T, N) float32, NaN where no asset
    assets: np.ndarray  # (T, N) int32, -1 where no asset
    dates: np.ndarray  # (T,) the month of each return
    characteristic_names: list[str]
    asset_names: list
    factors: dict = field(default_factory=dict)  # observable factors by name, (T,) each
    truth: dict = field(default_factory=dict)  # simulations: betas (T, N, K) and factors (T, K)
    description: str = ""

    @property
    def mask(self) -> np.ndarray:
        """(T, N) bool: an asset with a return."""
        return ~np.isnan(self.returns)

    @property
    def n_months(self) -> int:
        return self.returns.shape[0]

    def months(self, start: int, stop: int) -> Panel:
        """The months ``start:stop`` (truth and observable factors sliced too)."""
        s = slice(start, stop)
        return Panel(
            self.characteristics[s],
            self.returns[s],
            self.assets[s],
            self.dates[s],
            self.characteristic_names,
            self.asset_names,
            {k: v[s] for k, v in self.factors.items()},
            {k: v[s] for k, v in self.truth.items()},
            self.description,
        )

    def check_factors(self, n_factors: int) -> None:
        """UserError if some month has fewer assets than ``n_factors``."""
        counts = self.mask.sum(axis=1)
        bad = np.flatnonzero(counts < n_factors)
        if len(bad):
            t = bad[0]
            raise UserError(
                f"month {self.dates[t]} has {counts[t]} assets, fewer than the {n_factors} factors "
                f"asked for: use fewer factors or drop the months with few assets."
            )


def managed_portfolios(characteristics, returns) -> np.ndarray:
    """The paper's characteristic-managed portfolios ``x_t = (Z'Z)^{-1} Z' r_t`` of each month.

    ``characteristics`` (T, N, P) and ``returns`` (T, N); missing returns (NaN) leave their rows
    out. Where ``Z'Z`` is singular (fewer assets than characteristics) the least-squares solution
    of smallest norm is used. Returns (T, P) float32.
    """
    z = np.asarray(characteristics, "float64")
    r = np.asarray(returns, "float64")
    out = np.zeros(z.shape[::2], "float64")
    for t in range(z.shape[0]):
        keep = ~np.isnan(r[t])
        out[t] = np.linalg.lstsq(z[t, keep], r[t, keep], rcond=None)[0]
    return out.astype("float32")


def rank_normalize(values, mask=None) -> np.ndarray:
    """Cross-sectional ranks mapped to (-1, 1) as in the paper: ``2 rank / (n + 1) - 1`` with
    ranks 1..n (ties averaged) among the ``n`` non-missing values of each month and column;
    missing values (NaN, or rows outside ``mask``) become 0, the cross-sectional median.

    ``values`` (T, N, P); returns float32 of the same shape.
    """
    from scipy.stats import rankdata

    v = np.asarray(values, "float64")
    out = np.zeros(v.shape, "float32")
    rows = np.ones(v.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    for t in range(v.shape[0]):
        block = v[t]
        for p in range(v.shape[2]):
            ok = rows[t] & ~np.isnan(block[:, p])
            n = int(ok.sum())
            if n:
                out[t, ok, p] = 2.0 * rankdata(block[ok, p]) / (n + 1) - 1.0
    return out


# ---- the paper's Monte Carlo design ---------------------------------------------------------
@dataclass(frozen=True)
class SimulationSettings:
    """Gu, Kelly & Xiu (2021), section 3: ``r_{i,t} = beta(c_{i,t-1})' f_t + e_{i,t}`` with
    persistent characteristics ``cbar_{ij,t} = rho_j cbar_{ij,t-1} + eps`` (rho_j ~ U[0.9, 1]),
    rank-normalised each month, and three factors. ``truth="linear"``: beta = (c1, c2, c3);
    ``"nonlinear"``: beta = (c1^2, c1 c2, sign(c3)). Factors are Gaussian with mean
    ``factor_mean`` and std ``factor_std``; the noise is Student-t(5) scaled to std ``noise_std``.
    A constant is the last characteristic (the paper's z = (1, c))."""

    truth: str = "nonlinear"
    n_assets: int = 200
    n_months: int = 180
    n_characteristics: int = 50
    factor_mean: float = 0.02
    factor_std: float = 0.05
    noise_std: float = 0.1
    seed: int = 0


def simulate_panel(settings: SimulationSettings | None = None, **kwargs) -> Panel:
    """A simulated panel whose ``truth`` holds the true betas (T, N, 3) and factors (T, 3)."""
    s = settings or SimulationSettings(**kwargs)
    if s.truth not in ("linear", "nonlinear"):
        raise UserError(f"simulation truth must be 'linear' or 'nonlinear', got {s.truth!r}.")
    if s.n_characteristics < 3 or s.n_assets < 4 or s.n_months < 4:
        raise UserError("a simulation needs at least 3 characteristics, 4 assets and 4 months.")
    rng = np.random.default_rng(s.seed)
    t_all, n, p = s.n_months + 1, s.n_assets, s.n_characteristics
    rho = rng.uniform(0.9, 1.0, p)
    cbar = np.empty((t_all, n, p))
    cbar[0] = rng.standard_normal((n, p))
    for t in range(1, t_all):
        eps = rng.standard_normal((n, p)) * np.sqrt(1 - rho**2)
        cbar[t] = rho * cbar[t - 1] + eps
    c = rank_normalize(cbar).astype("float64")
    if s.truth == "linear":
        beta = c[..., :3]
    else:
        beta = np.stack([c[..., 0] ** 2, c[..., 0] * c[..., 1], np.sign(c[..., 2])], axis=-1)
    f = s.factor_mean + s.factor_std * rng.standard_normal((t_all, 3))
    nu = 5.0
    e = rng.standard_t(nu, (t_all, n)) * s.noise_std / np.sqrt(nu / (nu - 2))
    # The return of month t uses the characteristics (and beta) of month t-1.
    r = np.einsum("tnk,tk->tn", beta[:-1], f[1:]) + e[1:]
    z = np.concatenate([c[:-1], np.ones((s.n_months, n, 1))], axis=-1).astype("float32")
    names = [f"c{j + 1}" for j in range(p)] + ["const"]
    return Panel(
        characteristics=z,
        returns=r.astype("float32"),
        assets=np.broadcast_to(np.arange(n, dtype="int32"), (s.n_months, n)).copy(),
        dates=np.arange(1, s.n_months + 1),
        characteristic_names=names,
        asset_names=list(range(n)),
        truth={"betas": beta[:-1].astype("float32"), "factors": f[1:].astype("float32")},
        description=(
            f"simulated {s.truth} truth: {n} assets x {s.n_months} months, {p} characteristics "
            f"+ constant, 3 factors (mean {s.factor_mean}, std {s.factor_std}), t(5) noise std "
            f"{s.noise_std}, seed {s.seed}"
        ),
    )


# ---- users' own panels ----------------------------------------------------------------------
def load_panel(
    path,
    date_column: str = "date",
    asset_column: str = "asset",
    return_column: str = "return",
    characteristics: list[str] | None = None,
    lag: int = 1,
) -> Panel:
    """A long table (one row per asset and month) from CSV or Parquet.

    ``characteristics``: the columns used (default: every column but date, asset and return;
    they must be numeric). ``lag=1`` (default): a row's characteristics are known at the end of
    its month and price the asset's return of the *next* month; ``lag=0``: they are already
    lagged (known before the row's return). Characteristics are rank-normalised to (-1, 1) each
    month and missing values set to 0 (the cross-sectional median); rows without a return are
    dropped. A constant characteristic ``const`` is appended.
    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"panel file {path} not found.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except ImportError as e:
        raise UserError(f"reading {path.name} needs pyarrow: pip install pyarrow ({e}).") from None
    except Exception as e:  # pandas/pyarrow parser errors have many types
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot read {path} as a table: {first}") from None
    return panel_from_frame(
        df, date_column, asset_column, return_column, characteristics, lag, path.name
    )


def panel_from_frame(
    df,
    date_column="date",
    asset_column="asset",
    return_column="return",
    characteristics=None,
    lag=1,
    source="the panel",
) -> Panel:
    """:func:`load_panel` on a pandas DataFrame."""
    import pandas as pd

    missing = [c for c in (date_column, asset_column, return_column) if c not in df.columns]
    if characteristics is not None:
        missing += [c for c in characteristics if c not in df.columns]
    if missing:
        raise UserError(
            f"{source} has no column {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(map(str, df.columns))} (name them with --date-column / --asset-column / "
            "--return-column)."
        )
    if characteristics is None:
        characteristics = [
            c for c in df.columns if c not in (date_column, asset_column, return_column)
        ]
    if not characteristics:
        raise UserError(f"{source} has no characteristic columns besides date, asset and return.")
    bad = [c for c in [*characteristics, return_column] if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise UserError(f"{source}: column {bad[0]!r} is not numeric.")
    if lag not in (0, 1):
        raise UserError(f"lag must be 0 or 1, got {lag}.")
    dup = df.duplicated([date_column, asset_column], keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise UserError(
            f"{source} has {int(dup.sum())} rows sharing a (date, asset) pair, e.g. "
            f"{row[date_column]} / {row[asset_column]}: keep one row per asset and month."
        )
    dates = np.sort(df[date_column].unique())
    assets = sorted(df[asset_column].unique(), key=str)
    t_index = {d: i for i, d in enumerate(dates)}
    a_index = {a: i for i, a in enumerate(assets)}
    ti = df[date_column].map(t_index).to_numpy()
    ai = df[asset_column].map(a_index).to_numpy()
    grid_c = np.full((len(dates), len(assets), len(characteristics)), np.nan)
    grid_r = np.full((len(dates), len(assets)), np.nan)
    grid_c[ti, ai] = df[characteristics].to_numpy(dtype="float64")
    grid_r[ti, ai] = df[return_column].to_numpy(dtype="float64")
    if lag:  # characteristics of month t-1 price the return of month t
        grid_c, grid_r, dates = grid_c[:-1], grid_r[1:], dates[1:]
    present = ~np.isnan(grid_r)
    grid_c[~present] = np.nan
    if not present.any():
        raise UserError(
            f"{source} has no (asset, month) with both a return and lagged characteristics."
        )
    ranked = rank_normalize(grid_c, present)
    keep_t = present.any(axis=1)
    ranked, grid_r, present, dates = ranked[keep_t], grid_r[keep_t], present[keep_t], dates[keep_t]
    width = int(present.sum(axis=1).max())
    t_n = len(dates)
    z = np.zeros((t_n, width, len(characteristics) + 1), "float32")
    r = np.full((t_n, width), np.nan, "float32")
    ids = np.full((t_n, width), -1, "int32")
    for t in range(t_n):
        cols = np.flatnonzero(present[t])
        z[t, : len(cols), :-1] = ranked[t, cols]
        z[t, : len(cols), -1] = 1.0
        r[t, : len(cols)] = grid_r[t, cols]
        ids[t, : len(cols)] = cols
    return Panel(
        z,
        r,
        ids,
        dates,
        [*map(str, characteristics), "const"],
        list(assets),
        description=f"{source}: {len(assets)} assets, {t_n} months, {len(characteristics)} characteristics",
    )


# ---- Fama-French portfolios -----------------------------------------------------------------
FRENCH_FACTORS = ("MktRF", "SMB", "HML", "Mom")
FRENCH_INSTALL = "pip install linearmodels"


def french_portfolios() -> Panel:
    """The 28 Fama-French portfolios (10 industries, 9 size/value, 9 size/momentum; monthly
    1949-2017, excess of the risk-free rate) as assets. Their characteristics, computed from
    each portfolio's own past returns and rank-normalised across the 28 each month: last
    month's return, momentum (months t-12..t-2), 12-month volatility, 36-month market beta and
    long-term reversal (months t-36..t-13). Observable factors: MktRF, SMB, HML, Mom."""
    try:
        from linearmodels.datasets import french
    except ImportError:
        raise UserError(f"the Fama-French data is not installed: {FRENCH_INSTALL}") from None
    df = french.load()
    names = [c for c in df.columns if c not in ("dates", *FRENCH_FACTORS, "RF")]
    r = df[names].to_numpy("float64") - df[["RF"]].to_numpy("float64")  # (T, 28) excess returns
    mkt = df["MktRF"].to_numpy("float64")
    t_all = len(df)
    window = 36
    feats = np.full((t_all, len(names), 5), np.nan)
    for t in range(window, t_all):  # characteristics known at the end of month t-1
        past = r[t - window : t]  # months t-36 .. t-1
        m = mkt[t - window : t]
        feats[t, :, 0] = past[-1]
        feats[t, :, 1] = past[-12:-1].sum(axis=0)
        feats[t, :, 2] = past[-12:].std(axis=0)
        mc = m - m.mean()
        feats[t, :, 3] = mc @ (past - past.mean(axis=0)) / (mc @ mc)
        feats[t, :, 4] = past[:-12].sum(axis=0)
    z = rank_normalize(feats[window:])
    z = np.concatenate([z, np.ones(z.shape[:2] + (1,), "float32")], axis=-1)
    t_n = t_all - window
    dates = df["dates"].to_numpy()[window:]
    return Panel(
        characteristics=z,
        returns=r[window:].astype("float32"),
        assets=np.broadcast_to(np.arange(len(names), dtype="int32"), (t_n, len(names))).copy(),
        dates=np.array([str(d)[:7] for d in dates]),
        characteristic_names=["ret_1m", "mom_12_2", "vol_12m", "beta_36m", "rev_36_13", "const"],
        asset_names=names,
        factors={k: df[k].to_numpy("float32")[window:] for k in FRENCH_FACTORS},
        description=(
            f"Fama-French: 28 portfolios as assets, {t_n} months {str(dates[0])[:7]}.."
            f"{str(dates[-1])[:7]}, 5 return-based characteristics + constant"
        ),
    )


# ---- out-of-sample splits by time -----------------------------------------------------------
@dataclass(frozen=True)
class Window:
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


def time_windows(
    n_months: int, train: int, val: int, refit_every: int, scheme: str = "expanding"
) -> list[Window]:
    """The paper's recursive scheme: fit on ``train`` months, early-stop on the next ``val``,
    test the following ``refit_every`` months, then move forward by ``refit_every`` and refit.
    ``expanding``: training always starts at month 0; ``rolling``: it keeps ``train`` months.
    The validation window always has ``val`` months just before the test months."""
    if scheme not in ("expanding", "rolling"):
        raise UserError(f"--split must be 'expanding' or 'rolling', got {scheme!r}.")
    if min(train, val, refit_every) < 1:
        raise UserError("--train-months, --val-months and --refit-every must be positive.")
    if train + val >= n_months:
        raise UserError(
            f"the panel has {n_months} months: --train-months {train} + --val-months {val} leave "
            "none to test; use shorter windows."
        )
    windows = []
    start = train + val
    while start < n_months:
        stop = min(start + refit_every, n_months)
        t0 = 0 if scheme == "expanding" else start - val - train
        windows.append(Window((t0, start - val), (start - val, start), (start, stop)))
        start = stop
    return windows
