"""The paper-style out-of-sample R^2 table (Gu, Kelly & Xiu 2021, tables 1-2 style) for CA0-CA3,
IPCA, PCA and Fama-French(-style) factors, K = 1..6, on the simulated nonlinear and linear
truths and on the Fama-French portfolios. Each data set is one `keraslab train asset-pricing` run
(same code as the CLI); the tables are printed in markdown and saved in each run folder.

    python benchmarks/asset_pricing_table.py --out runs/bench-ap [--data sim,sim-linear,french]

The autoencoders' settings (learning rate 3e-3, batch 4 months, L1 1e-4, patience 20) were chosen
on a pilot simulation with --sim-seed 0; the tables use --sim-seed 1 (and 2 for the second truth).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

RUNS = {
    "sim": ["--data", "sim", "--sim-seed", "1"],
    "sim-linear": ["--data", "sim-linear", "--sim-seed", "2"],
    # 28 assets x 783 months: a fit takes ~8 s, so 3 seeds instead of 5 and 32-month batches.
    "french": ["--data", "french", "--ensemble", "3", "--batch-size", "32"],
}


def oracle(seed: int, truth: str) -> str:
    """The infeasible fit of the simulation's own betas and factors on the test months 120..179:
    total R^2 with the true factors, predictive R^2 with their true mean (0.02)."""
    import numpy as np

    from keraslab.data.finance import simulate_panel
    from keraslab.metrics.asset_pricing import fitted_returns, r2_no_demean

    test = simulate_panel(truth=truth, seed=seed).months(120, 180)
    b, f = test.truth["betas"], test.truth["factors"]
    total = r2_no_demean(test.returns, fitted_returns(b, f))
    pred = r2_no_demean(test.returns, fitted_returns(b, np.full_like(f, 0.02)))
    return (
        f"oracle ({truth}, seed {seed}): total R2 {100 * total:.1f}%, predictive {100 * pred:.2f}%"
    )


def repeats(seeds, out: Path, models: str, k: int) -> None:
    """Predictive R^2 of a few models at one K over several simulation seeds (the paper repeats
    its Monte Carlo 100 times; this is the affordable version): mean, std and wins over IPCA."""
    import json

    import numpy as np

    from keraslab.cli import main as cli

    scores: dict = {}
    for seed in seeds:
        folder = out / f"repeat-seed{seed}"
        cli(["train", "asset-pricing", "--data", "sim", "--sim-seed", str(seed), "--model", models,
             "--baselines", "ipca", "--factors", str(k), "--quiet", "--out", str(folder)])  # fmt: skip
        (run,) = folder.iterdir()
        for line in (run / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            scores.setdefault(r["model"], []).append((r["total_r2"], r["predictive_r2"]))
    ipca = np.array(scores["ipca"])
    print(
        f"\n| K={k}, seeds {seeds[0]}..{seeds[-1]} | total R² (%) | predictive R² (%) | predictive > IPCA |"
    )
    print("|---|---:|---:|---:|")
    for m, v in scores.items():
        v = np.array(v)
        wins = int((v[:, 1] > ipca[:, 1]).sum()) if m != "ipca" else "–"
        print(f"| {m.upper()} | {100 * v[:, 0].mean():.1f} ± {100 * v[:, 0].std():.1f} | "
              f"{100 * v[:, 1].mean():.2f} ± {100 * v[:, 1].std():.2f} | {wins}/{len(v)} |")  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench-asset-pricing")
    p.add_argument("--data", default="sim,sim-linear,french")
    p.add_argument("--factors", default="1-6")
    p.add_argument("--repeat-seeds", default="", help="e.g. 3-7: CA0/CA2 vs IPCA at K=3 per seed")
    args = p.parse_args()
    from keraslab.cli import main as cli

    print(f"# {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print(oracle(1, "nonlinear"))
    print(oracle(2, "linear"))
    if args.repeat_seeds:
        lo, hi = map(int, args.repeat_seeds.split("-"))
        repeats(list(range(lo, hi + 1)), Path(args.out), "ca0,ca2", 3)
    for name in [d for d in args.data.split(",") if d]:
        t0 = time.time()
        out = Path(args.out) / name
        rc = cli(
            [
                "train",
                "asset-pricing",
                *RUNS[name],
                "--model",
                "ca0,ca1,ca2,ca3",
                "--factors",
                args.factors,
                "--quiet",
                "--out",
                str(out),
            ]
        )
        print(f"## {name}: exit {rc}, {time.time() - t0:.0f} s, run under {out}")


if __name__ == "__main__":
    main()
