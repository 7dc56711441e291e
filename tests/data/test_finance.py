"""Panels for the asset-pricing autoencoder: managed portfolios against the formula, rank
normalisation by hand, the CSV/Parquet loader and its errors, the time windows and the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keraslab.data.finance import (
    load_panel,
    managed_portfolios,
    rank_normalize,
    simulate_panel,
    time_windows,
)
from keraslab.errors import UserError


def test_managed_portfolios_equal_the_formula_with_missing_rows_left_out():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 30, 5))
    r = rng.standard_normal((4, 30))
    r[1, [3, 7, 11]] = np.nan
    x = managed_portfolios(z, r)
    for t in range(4):
        keep = ~np.isnan(r[t])
        zt, rt = z[t, keep], r[t, keep]
        expected = np.linalg.inv(zt.T @ zt) @ zt.T @ rt  # (Z'Z)^{-1} Z' r
        np.testing.assert_allclose(x[t], expected, rtol=1e-4, atol=1e-5)


def test_rank_normalize_by_hand():
    # One month, four assets, two characteristics; n non-missing values get 2 rank/(n+1) - 1.
    v = np.array([[[3.0, 5.0], [1.0, 5.0], [np.nan, 1.0], [2.0, 0.0]]])
    out = rank_normalize(v)
    # column 0: ranks 3, 1, -, 2 among n = 3 -> 0.5, -0.5, 0 (missing), 0
    np.testing.assert_allclose(out[0, :, 0], [0.5, -0.5, 0.0, 0.0])
    # column 1: 5, 5 tie for ranks 3 and 4 (3.5 each), 1 -> 2, 0 -> 1; n = 4
    np.testing.assert_allclose(
        out[0, :, 1], [2 * 3.5 / 5 - 1, 2 * 3.5 / 5 - 1, 2 * 2 / 5 - 1, 2 / 5 - 1]
    )


def _long_table():
    rows = []
    for m, date in enumerate(["2020-01", "2020-02", "2020-03"]):
        for a, asset in enumerate(["A", "B", "C", "D"]):
            size = [10.0, 40.0, 20.0, 30.0][a] + m * (a == 0) * 100  # A becomes the largest
            value = [1.0, 2.0, np.nan, 4.0][a]
            rows.append({"date": date, "asset": asset, "size": size, "value": value,
                         "return": 0.01 * (a + 1) + 0.001 * m})  # fmt: skip
    return pd.DataFrame(rows)


def test_load_panel_lags_ranks_and_fills(tmp_path):
    df = _long_table()
    df = df[~((df.date == "2020-03") & (df.asset == "B"))]  # B has no March return
    path = tmp_path / "panel.csv"
    df.to_csv(path, index=False)
    panel = load_panel(path)
    assert panel.characteristic_names == ["size", "value", "const"]
    assert list(panel.dates) == ["2020-02", "2020-03"]  # January prices February
    # February's rows carry January's characteristics: sizes 10, 40, 20, 30 -> ranks 1, 4, 2, 3
    feb = {panel.asset_names[a]: panel.characteristics[0, j] for j, a in enumerate(panel.assets[0])}
    np.testing.assert_allclose([feb[k][0] for k in "ABCD"], [-0.6, 0.6, -0.2, 0.2], atol=1e-6)
    assert feb["C"][1] == 0.0  # missing value -> 0, the median
    np.testing.assert_allclose([feb[k][2] for k in "ABCD"], 1.0)
    # March: B has no return, so three assets; A's February size (110) is now the largest.
    mar = {
        panel.asset_names[a]: panel.characteristics[1, j]
        for j, a in enumerate(panel.assets[1])
        if a >= 0
    }
    assert sorted(mar) == ["A", "C", "D"]
    np.testing.assert_allclose([mar[k][0] for k in "ACD"], [0.5, -0.5, 0.0], atol=1e-6)
    assert np.isnan(panel.returns[1]).sum() == 1 and panel.assets[1].min() == -1
    np.testing.assert_allclose(
        np.nansum(panel.returns[1]), 0.01 + 0.03 + 0.04 + 3 * 0.002, atol=1e-6
    )
    # Parquet gives the same panel.
    df.to_parquet(tmp_path / "panel.parquet")
    again = load_panel(tmp_path / "panel.parquet")
    np.testing.assert_array_equal(again.characteristics, panel.characteristics)
    # lag=0: the row's own characteristics, all three months kept
    assert load_panel(path, lag=0).n_months == 3


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns="return"), "no column 'return'"),
        (lambda d: pd.concat([d, d.iloc[[5]]]), "sharing a (date, asset) pair"),
        (lambda d: d.assign(size=d["size"].astype(str) + "x"), "not numeric"),
    ],
)
def test_load_panel_errors(tmp_path, change, message):
    path = tmp_path / "bad.csv"
    change(_long_table()).to_csv(path, index=False)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_panel(path)


def test_month_with_fewer_assets_than_factors():
    df = _long_table()
    df = df[~((df.date == "2020-03") & df.asset.isin(["B", "C", "D"]))]
    from keraslab.data.finance import panel_from_frame

    panel = panel_from_frame(df)
    panel.check_factors(1)
    with pytest.raises(UserError, match="month 2020-03 has 1 assets, fewer than the 2 factors"):
        panel.check_factors(2)


def test_time_windows_expanding_and_rolling():
    w = time_windows(30, train=10, val=5, refit_every=6)
    assert [(x.train, x.val, x.test) for x in w] == [
        ((0, 10), (10, 15), (15, 21)),
        ((0, 16), (16, 21), (21, 27)),
        ((0, 22), (22, 27), (27, 30)),
    ]
    r = time_windows(30, train=10, val=5, refit_every=6, scheme="rolling")
    assert [x.train for x in r] == [(0, 10), (6, 16), (12, 22)]
    with pytest.raises(UserError, match="leave none to test"):
        time_windows(15, 10, 5, 6)


@pytest.mark.parametrize("truth", ["linear", "nonlinear"])
def test_simulation_follows_its_design(truth):
    p = simulate_panel(
        truth=truth, n_assets=300, n_months=60, n_characteristics=6, noise_std=0.1, seed=4
    )
    c = p.characteristics
    assert c.shape == (60, 300, 7) and np.all(c[..., -1] == 1) and np.abs(c[..., :-1]).max() < 1
    b = p.truth["betas"]
    if truth == "linear":
        np.testing.assert_allclose(b, c[..., :3], atol=1e-6)
    else:
        np.testing.assert_allclose(b[..., 0], c[..., 0] ** 2, atol=1e-6)
        np.testing.assert_allclose(b[..., 1], c[..., 0] * c[..., 1], atol=1e-6)
        np.testing.assert_allclose(b[..., 2], np.sign(c[..., 2]))
    noise = p.returns - np.einsum("tnk,tk->tn", b, p.truth["factors"])
    assert abs(noise.std() - 0.1) < 0.01 and abs(noise.mean()) < 0.005
    assert abs(p.truth["factors"].mean() - 0.02) < 0.02
    # persistence: month-to-month rank correlation of a characteristic is high (rho in [0.9, 1])
    assert np.corrcoef(c[:-1, :, 0].ravel(), c[1:, :, 0].ravel())[0, 1] > 0.8
