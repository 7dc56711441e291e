"""Recipe ``asset-pricing``: the conditional autoencoders CA0-CA3 of Gu, Kelly & Xiu (2021)
against IPCA, PCA and Fama-French-style observable factors, out of sample, for K = 1..6 factors.

Data (``--data``): ``sim`` (the paper's Monte Carlo design with a nonlinear beta function),
``sim-linear``, ``french`` (the 28 Fama-French portfolios as assets) or the path of your own CSV /
Parquet panel (date, asset, characteristics..., return).

Out of sample by time: fit on ``--train-months``, early-stop on the next ``--val-months``, test
the following ``--refit-every`` months, move forward and refit (``--split expanding|rolling``).
Every (model, K, window) result is appended to ``results.jsonl`` as soon as it is known, so
``--resume`` carries on where a stopped run ended. At the end: ``r2.csv``, ``r2.md`` (the
paper-style table of total and predictive R^2, %), ``r2_vs_k.png`` and ``summary.json``; the
autoencoders of the last window are kept in ``weights/``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict

import numpy as np

from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.recipes.base import Recipe, write_summary
from keraslab.recipes.specs.asset_pricing import (  # noqa: F401 - part of this module's API
    AUTOENCODERS,
    BASELINES,
    DEFAULT_WINDOWS,
    Config,
    parse_factors,
    parse_names,
)
from keraslab.runs import Run, new_run, reopen_run, run_lock

NAME = "asset-pricing"


# ---- data ------------------------------------------------------------------------------------
def load_data(config: Config):
    from keraslab.data import finance

    if config.panel:
        return finance.load_panel(
            config.panel,
            date_column=config.date_column,
            asset_column=config.asset_column,
            return_column=config.return_column,
            lag=config.lag,
        )
    if config.dataset == "french":
        return finance.french_portfolios()
    return finance.simulate_panel(
        truth="linear" if config.dataset == "sim_linear" else "nonlinear",
        n_assets=config.sim_assets,
        n_months=config.sim_months,
        n_characteristics=config.sim_characteristics,
        noise_std=config.sim_noise,
        seed=config.sim_seed,
    )


def check_panel(config: Config, panel) -> list:
    """The windows, after the checks that need the data (one-line UserErrors)."""
    ks = config.ks()
    p = len(panel.characteristic_names)
    if max(ks) > p:
        raise UserError(
            f"--factors {config.factors}: at most {p} factors with {p} characteristics "
            "(the constant included)."
        )
    panel.check_factors(max(ks))
    return config.windows(panel.n_months)


# ---- estimators ------------------------------------------------------------------------------
def estimator(name: str, k: int, config: Config, panel):
    """A fresh estimator of ``name`` with ``k`` factors (None: not defined, e.g. ff with K > 4)."""
    from keraslab.models import factor_models as fm

    if name in AUTOENCODERS:
        from keraslab.models.asset_pricing import CAEnsemble

        return CAEnsemble(
            name,
            k,
            seeds=range(config.seed, config.seed + config.ensemble),
            l1=config.l1,
            learning_rate=config.learning_rate,
            epochs=config.epochs,
            batch_size=config.batch_size,
            patience=config.patience,
        )
    if name == "ipca":
        return fm.IPCA(k)
    if name == "pca":
        return fm.PCA(k)
    names = list(panel.factors)
    return fm.ObservableFactors(names[:k]) if k <= len(names) else None


def fit_window(name: str, k: int, config: Config, panel, window) -> dict | None:
    """Fit on one window and score its test months: sums from which R^2 adds up over windows."""
    from keraslab.metrics.asset_pricing import r2_no_demean
    from keraslab.models.factor_models import out_of_sample_predictions

    if name == "ff" and not panel.factors:
        # No observed factors: characteristic-sorted ones, chosen on this window's fitting months.
        from keraslab.models.factor_models import sorted_factors

        factors, _ = sorted_factors(panel, window.val[1], k)
        panel = dataclasses.replace(panel, factors=factors)
    est = estimator(name, k, config, panel)
    if est is None:
        return None
    t0 = time.time()
    est.fit(panel.months(*window.train), panel.months(*window.val))
    test = panel.months(*window.test)
    total, predictive = out_of_sample_predictions(est, test, panel.months(0, window.test[0]))
    r = test.returns.astype("float64")
    ok = ~np.isnan(r)
    result = {
        "model": name,
        "k": k,
        "test": list(window.test),
        "observations": int(ok.sum()),
        "sum_r2": float(np.sum(r[ok] ** 2)),
        "sse_total": float(np.sum((r[ok] - total[ok]) ** 2)),
        "sse_predictive": float(np.sum((r[ok] - predictive[ok]) ** 2)),
        "total_r2": r2_no_demean(r, total),
        "predictive_r2": r2_no_demean(r, predictive),
        "seconds": round(time.time() - t0, 2),
    }
    if hasattr(est, "epochs_trained"):
        result["epochs"] = est.epochs_trained
    result["_estimator"] = est
    return result


# ---- the run ---------------------------------------------------------------------------------
def results_path(run: Run):
    return run.path / "results.jsonl"


def read_results(run: Run) -> list[dict]:
    path = results_path(run)
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash
                continue
    return rows


def _append(run: Run, row: dict) -> None:
    rows = [*read_results(run), row]
    with atomic_path(results_path(run)) as tmp:  # rewrite: never a half line
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _fit(run: Run, config: Config, panel, windows, verbose, echo) -> dict:
    echo(f"data: {panel.description}")
    echo(
        f"{len(windows)} test window(s), {config.split}: train {windows[0].train[1] - windows[0].train[0]}"
        f" months, validation {windows[0].val[1] - windows[0].val[0]}, test months "
        f"{windows[0].test[0]}..{windows[-1].test[1] - 1}"
    )
    done = {(r["model"], r["k"], tuple(r["test"])) for r in read_results(run)}
    jobs = [(m, k, w) for m in config.models() for k in config.ks() for w in windows]
    t_start = time.time()
    for i, (name, k, w) in enumerate(jobs, 1):
        if (name, k, w.test) in done:
            continue
        result = fit_window(name, k, config, panel, w)
        if result is None:
            _append(run, {"model": name, "k": k, "test": list(w.test), "undefined": True})
            continue
        est = result.pop("_estimator")
        if name in AUTOENCODERS and w is windows[-1]:
            _save_weights(run, name, k, est)
        _append(run, result)
        echo(
            f"[{i}/{len(jobs)}] {name} K={k} test months {w.test[0]}..{w.test[1] - 1}: total R2 "
            f"{100 * result['total_r2']:.2f}%, predictive R2 {100 * result['predictive_r2']:.3f}% "
            f"({result['seconds']:.1f} s)"
        )
    table = r2_table(read_results(run))
    files = write_table(run, table, title=panel.description)
    summary = {
        "data": panel.description,
        "windows": len(windows),
        "seconds_this_session": round(time.time() - t_start, 1),
        "r2": table,
        **files,
    }
    write_summary(run, summary)
    echo(format_table(table))
    echo(f"run directory: {run.path}")
    return summary


def _save_weights(run: Run, name: str, k: int, est) -> None:
    folder = run.path / "weights"
    folder.mkdir(exist_ok=True)
    for seed, model in zip(est.seeds, est.models):
        with atomic_path(
            folder / f"{name}-k{k}-seed{seed}.weights.h5", suffix=".weights.h5"
        ) as tmp:
            model.save_weights(tmp)


def r2_table(rows: list[dict]) -> dict:
    """``{model: {k: {"total", "predictive", "observations"}}}`` pooled over the test windows
    (sums of squares added, so the R^2 is over all test asset-months)."""
    sums: dict = {}
    for r in rows:
        if r.get("undefined"):
            continue
        s = sums.setdefault(r["model"], {}).setdefault(int(r["k"]), [0.0, 0.0, 0.0, 0])
        s[0] += r["sum_r2"]
        s[1] += r["sse_total"]
        s[2] += r["sse_predictive"]
        s[3] += r["observations"]
    return {
        m: {
            k: {"total": 1 - s[1] / s[0], "predictive": 1 - s[2] / s[0], "observations": s[3]}
            for k, s in sorted(by_k.items())
        }
        for m, by_k in sums.items()
    }


def format_table(table: dict) -> str:
    """The paper-style table: rows are models, columns K, total then predictive R^2 in %."""
    ks = sorted({k for by_k in table.values() for k in by_k})
    lines = []
    for key, digits in (("total", 1), ("predictive", 2)):
        lines.append(f"| {key} R² (%) | " + " | ".join(f"K={k}" for k in ks) + " |")
        lines.append("|---|" + "---:|" * len(ks))
        for m, by_k in table.items():
            cells = [f"{100 * by_k[k][key]:.{digits}f}" if k in by_k else "–" for k in ks]
            lines.append(f"| {m.upper()} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def write_table(run: Run, table: dict, title: str = "") -> dict:
    from keraslab.runs.charts import save_r2_by_k

    with atomic_path(run.path / "r2.csv") as tmp:
        lines = ["model,k,total_r2,predictive_r2,observations"]
        for m, by_k in table.items():
            for k, v in by_k.items():
                lines.append(f"{m},{k},{v['total']:.6f},{v['predictive']:.6f},{v['observations']}")
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(run.path / "r2.md") as tmp:
        tmp.write_text(format_table(table) + "\n")
    files = {"r2_csv": str(run.path / "r2.csv"), "r2_md": str(run.path / "r2.md")}
    if table:
        files["r2_png"] = str(save_r2_by_k(table, run.path / "r2_vs_k.png", title))
    return files


_SMALL = "many small estimators, each a few seconds"


def _no_tensorboard(tensorboard: bool) -> None:
    if tensorboard:
        raise UserError(
            "--tensorboard: asset-pricing runs fit many small estimators, not epochs of one "
            "model; their results are in results.jsonl, r2.md and report.html."
        )


class AssetPricingRecipe(Recipe):
    """Not one ``model.fit``: many small estimators, each result appended to ``results.jsonl``
    as soon as it is known, so ``train`` and ``resume`` are this recipe's own."""

    name = NAME
    Config = Config

    def train(
        self, config: Config, out: str = "runs", verbose: int = 1, echo=print,
        tensorboard: bool = False, distribute=None,
    ) -> dict:  # fmt: skip
        """A new asset-pricing run under ``out``; returns the summary (also summary.json)."""
        import keras

        self._single_device(distribute, _SMALL)
        _no_tensorboard(tensorboard)
        config.validate()
        panel = load_data(config)  # bad input fails here, before anything is written
        windows = check_panel(config, panel)
        run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
        echo(f"run directory: {run.path}")
        return _fit(run, config, panel, windows, verbose, echo)

    def resume(
        self, run_path, epochs: int | None = None, verbose: int = 1, echo=print,
        tensorboard: bool = False, distribute=None,
    ) -> dict:  # fmt: skip
        self._single_device(distribute, _SMALL)
        _no_tensorboard(tensorboard)
        run, config = reopen_run(run_path, NAME, self.config_from_run, epochs)
        panel = load_data(config)
        windows = check_panel(config, panel)
        with run_lock(run):
            run.clean_temporaries()
            echo(f"resuming {run.path}: {len(read_results(run))} results kept")
            return _fit(run, config, panel, windows, verbose, echo)

    def evaluate(self, run_path: str, echo=print) -> dict:
        """The run's R^2 table (from results.jsonl; nothing is refitted)."""
        run = self.open(run_path)
        rows = read_results(run)
        if not rows:
            raise UserError(f"{run.path} has no results yet: continue it with --resume.")
        return {"r2": r2_table(rows), "results": len(rows)}

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return format_table(r["r2"])


RECIPE = AssetPricingRecipe()
