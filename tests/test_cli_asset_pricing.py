"""CLI of the asset-pricing recipe on a panel file the test makes: the R^2 table, the plot,
resume, evaluate; PCA's R^2 against a direct numpy computation; one-line exit-2 errors for a
missing column, duplicated (date, asset) rows and a month with fewer assets than factors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import assert_one_line_error, run_cli, snapshot
from keraslab.data.finance import simulate_panel


def _panel_csv(path, months=48, assets=30):
    p = simulate_panel(
        truth="nonlinear", n_assets=assets, n_months=months, n_characteristics=4, seed=5
    )
    rows = []
    for t in range(months):
        for i in range(assets):
            c = p.characteristics[t, i]
            rows.append({"month": f"m{t:03d}", "id": f"s{i}", "a": c[0], "b": c[1], "c": c[2], "d": c[3],
                         "ret": p.returns[t, i]})  # fmt: skip
    df = pd.DataFrame(rows)
    df.to_csv(path, index=False)
    return df


COLUMNS = ["--date-column", "month", "--asset-column", "id", "--return-column", "ret", "--lag", "0"]


@pytest.fixture(scope="module")
def panel_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("panel") / "panel.csv"
    return path, _panel_csv(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns="ret"), "no column 'ret'"),
        (lambda d: pd.concat([d, d.iloc[[7]]]), "rows sharing a (date, asset) pair"),
        (
            lambda d: d[(d.month != "m010") | d.id.isin(["s0", "s1"])],
            "month m010 has 2 assets, fewer than the 3 factors",
        ),  # fmt: skip
    ],
)
def test_bad_panels_fail_in_one_line_and_write_nothing(tmp_path, panel_file, change, message):
    bad = tmp_path / "bad.csv"
    change(panel_file[1]).to_csv(bad, index=False)
    out = tmp_path / "runs"
    proc = run_cli(
        "train", "asset-pricing", "--data", bad, *COLUMNS, "--factors", "1-3", "--out", out
    )
    assert_one_line_error(proc, message)
    assert snapshot(out) == {}


def test_option_errors(tmp_path):
    out = tmp_path / "runs"
    assert_one_line_error(
        run_cli("train", "asset-pricing", "--factors", "two", "--out", out), "--factors"
    )
    assert_one_line_error(
        run_cli("train", "asset-pricing", "--model", "ca9", "--out", out), "ca0, ca1"
    )
    assert_one_line_error(run_cli("train", "asset-pricing", "--factors", "9", "--data", "french", "--out", out), "at most 6 factors")  # fmt: skip
    assert_one_line_error(
        run_cli("train", "vae", "--data", "sim", "--out", out), "--data applies to asset-pricing"
    )
    assert snapshot(out) == {}


@pytest.mark.slow
def test_train_resume_evaluate(tmp_path, panel_file):
    path, df = panel_file
    out = tmp_path / "runs"
    args = ["--data", path, *COLUMNS, "--model", "ca0", "--baselines", "pca,ff", "--factors", "1-2",
            "--ensemble", "1", "--epochs", "40", "--train-months", "24", "--val-months", "12",
            "--refit-every", "6", "--quiet", "--out", out]  # fmt: skip
    run_cli("train", "asset-pricing", *args, check=True)
    (run,) = out.iterdir()
    table = pd.read_csv(run / "r2.csv")
    assert sorted(table.model.unique()) == ["ca0", "ff", "pca"] and set(table.k) == {1, 2}
    assert (run / "r2_vs_k.png").stat().st_size > 1000 and "| CA0 |" in (run / "r2.md").read_text()
    assert sorted(p.name for p in (run / "weights").iterdir()) == [
        "ca0-k1-seed0.weights.h5",
        "ca0-k2-seed0.weights.h5",
    ]
    rows = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 2 * 2  # models x K x windows (test months 36..41, 42..47)

    # PCA K=2 by hand: loadings from the SVD of months 0..35 (fitting window of the first
    # refit), then each test month's cross-sectional regression; pooled over both windows.
    grid = df.pivot(index="month", columns="id", values="ret").sort_index()
    grid = grid[sorted(grid.columns)].to_numpy()
    num = den = 0.0
    for start in (36, 42):
        _, _, vt = np.linalg.svd(grid[:start], full_matrices=False)
        b = vt[:2].T
        for t in range(start, start + 6):
            f = np.linalg.lstsq(b, grid[t], rcond=None)[0]
            num += np.sum((grid[t] - b @ f) ** 2)
            den += np.sum(grid[t] ** 2)
    pca2 = table[(table.model == "pca") & (table.k == 2)].total_r2.item()
    assert np.isclose(pca2, 1 - num / den, atol=1e-5)

    # resume after a crash that lost the last two results: they are recomputed
    lines = (run / "results.jsonl").read_text().splitlines()
    (run / "results.jsonl").write_text("\n".join(lines[:-2]) + "\n")
    proc = run_cli("train", "--resume", run, check=True)
    assert "10 results kept" in proc.stdout
    assert len((run / "results.jsonl").read_text().splitlines()) == 12
    np.testing.assert_allclose(pd.read_csv(run / "r2.csv").total_r2, table.total_r2, atol=1e-6)

    proc = run_cli("evaluate", run, check=True)
    assert "| total R² (%) | K=1 | K=2 |" in proc.stdout and "| PCA |" in proc.stdout
    proc = run_cli("evaluate", run, "--beam-width", "3")
    assert_one_line_error(proc, "--beam-width: not an option of asset-pricing runs")
