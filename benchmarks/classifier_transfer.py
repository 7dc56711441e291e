"""Tweet sentiment: test macro-F1 of the text classifier trained from scratch, initialised from a
bert-mlm run, and on an elmo run's biLM (all with class weights unless named otherwise), on
labelled subsets of several sizes and several seeds. Every variant trains through
``keraslab.recipes.text_classifier.RECIPE.train`` (same code as the CLI) and is scored on the same
held-out test tweets with its best-validation epoch.

Small subsets get more epochs so that every run makes at least ``--min-steps`` updates.

    python benchmarks/classifier_transfer.py --bert runs/bert-mlm-... --elmo runs/elmo-... \\
        --sizes 500,2000,all --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

# name -> (imbalance, init kind, extra settings)
VARIANTS = {
    "scratch": ("none", None, {}),
    "scratch + class weights": ("class-weight", None, {}),
    "bert-mlm init + class weights": ("class-weight", "bert", {}),
    "elmo init + class weights": ("class-weight", "elmo", {}),
    "elmo frozen + class weights": ("class-weight", "elmo", {"freeze_init": True}),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bert", help="a bert-mlm run")
    p.add_argument("--elmo", help="an elmo run")
    p.add_argument("--sizes", default="500,2000,all")
    p.add_argument("--seeds", default="0")
    p.add_argument(
        "--variants",
        default="scratch + class weights,bert-mlm init + class weights,elmo init + class weights",
        help=f"comma-separated, of: {'; '.join(VARIANTS)}",
    )
    p.add_argument("--epochs", type=int, default=4, help="epochs on the full labelled set")
    p.add_argument("--min-steps", type=int, default=300)
    p.add_argument("--out", default="runs/classifier-transfer")
    p.add_argument("--plot", default="docs/classifier_transfer.png")
    p.add_argument(
        "--results", nargs="+", metavar="results.json",
        help="train nothing: the summary table and plot of earlier runs' results (merged)",
    )  # fmt: skip
    args = p.parse_args()
    if args.results:
        rows, seen = [], set()
        for r in (r for f in args.results for r in json.loads(Path(f).read_text())):
            key = (r["labelled"], r["variant"], r["seed"])  # a cell run twice counts once
            if key not in seen:
                seen.add(key)
                rows.append(r)
        names = list(dict.fromkeys(r["variant"] for r in rows))
        _summary(rows, names)
        _plot(rows, names, args.plot)
        return
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose among {list(VARIANTS)}")
    import keras

    from keraslab.recipes import text_classifier as tc

    inits = {"bert": args.bert, "elmo": args.elmo}
    full = len(tc.load_data(tc.Config()).train_labels)
    rows = []
    print(
        f"# classifier transfer, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs, backend {keras.backend.backend()}; inits {inits}\n"
    )
    print(
        "| labelled | variant | seed | epochs | test macro-F1 | accuracy | recall neg/neu/pos | s |"
    )
    print("|---:|---|---:|---:|---:|---:|---|---:|")
    for size in args.sizes.split(","):
        n = full if size == "all" else int(size)
        epochs = max(args.epochs, math.ceil(args.min_steps * 64 / n))
        for name in variants:
            imbalance, kind, extra = VARIANTS[name]
            if kind is not None and not inits[kind]:
                p.error(f"variant {name!r} needs --{kind} RUN")
            for seed in [int(s) for s in args.seeds.split(",")]:
                cfg = tc.Config(
                    labelled=None if size == "all" else n,
                    imbalance=imbalance,
                    init=inits[kind] if kind else None,
                    epochs=epochs,
                    seed=seed,
                    **extra,
                )
                t0 = time.time()
                s = tc.RECIPE.train(cfg, out=args.out, verbose=0, echo=lambda *a: None)
                seconds = time.time() - t0
                r = s["test_recall"]
                recall = "/".join(f"{r[c]:.2f}" for c in ("negative", "neutral", "positive"))
                rows.append({"labelled": n, "variant": name, "seed": seed, "epochs": epochs,
                             "seconds": seconds, **s})  # fmt: skip
                print(
                    f"| {n:,} | {name} | {seed} | {epochs} | {s['test_macro_f1']:.3f} | "
                    f"{s['test_accuracy']:.3f} | {recall} | {seconds:.0f} |",
                    flush=True,
                )
                Path(args.out).mkdir(parents=True, exist_ok=True)
                (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=1))
    _summary(rows, variants)
    _plot(rows, variants, args.plot)


def _summary(rows, variants):
    import numpy as np

    print("\n| labelled | variant | seeds | test macro-F1, mean ± sd | seconds per run |")
    print("|---:|---|---:|---:|---:|")
    for n in sorted({r["labelled"] for r in rows}):
        for name in variants:
            cell = [r for r in rows if r["labelled"] == n and r["variant"] == name]
            if cell:
                f1 = [r["test_macro_f1"] for r in cell]
                s = np.mean([r["seconds"] for r in cell])
                print(
                    f"| {n:,} | {name} | {len(f1)} | {np.mean(f1):.3f} ± {np.std(f1):.3f} | {s:.0f} |"
                )


def _plot(rows, variants, path):
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name in variants:
        sizes = sorted({r["labelled"] for r in rows if r["variant"] == name})
        f1 = [[r["test_macro_f1"] for r in rows if r["variant"] == name and r["labelled"] == n]
              for n in sizes]  # fmt: skip
        ax.errorbar(sizes, [np.mean(f) for f in f1], yerr=[np.std(f) for f in f1], marker="o",
                    capsize=3, label=name)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("labelled training tweets")
    ax.set_ylabel("test macro-F1 (mean ± sd over seeds)")
    ax.set_title("Tweet sentiment (3 classes, 42/39/18%)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


if __name__ == "__main__":
    main()
