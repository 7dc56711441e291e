"""Tweet sentiment: test macro-F1 of the Transformer classifier trained from scratch, from scratch
with class weights, and initialised from a bert-mlm run (with class weights), on labelled subsets
of several sizes. Every variant trains through ``keraslab.recipes.text_classifier.RECIPE.train`` (same
code as the CLI) and is scored on the same held-out test tweets with its best-validation epoch.

Small subsets get more epochs so that every run makes at least ``--min-steps`` updates.

    python benchmarks/classifier_transfer.py --init runs/bert-mlm-... --sizes 500,2000,all
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

VARIANTS = [
    ("scratch", "none", False),
    ("scratch + class weights", "class-weight", False),
    ("bert-mlm init + class weights", "class-weight", True),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--init", required=True, help="a bert-mlm run")
    p.add_argument("--sizes", default="500,2000,all")
    p.add_argument("--epochs", type=int, default=4, help="epochs on the full labelled set")
    p.add_argument("--min-steps", type=int, default=400)
    p.add_argument("--out", default="runs/classifier-transfer")
    p.add_argument("--plot", default="docs/classifier_transfer.png")
    args = p.parse_args()
    import keras

    from keraslab.recipes import text_classifier as tc

    full = len(tc.load_data(tc.Config()).train_labels)
    rows = []
    print(
        f"# classifier transfer, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs, backend {keras.backend.backend()}; init {args.init}\n"
    )
    print("| labelled | variant | epochs | test macro-F1 | accuracy | recall neg/neu/pos | s |")
    print("|---:|---|---:|---:|---:|---|---:|")
    for size in args.sizes.split(","):
        n = full if size == "all" else int(size)
        epochs = max(args.epochs, math.ceil(args.min_steps * 64 / n))
        for name, imbalance, pretrained in VARIANTS:
            cfg = tc.Config(
                labelled=None if size == "all" else n,
                imbalance=imbalance,
                init=args.init if pretrained else None,
                epochs=epochs,
            )
            t0 = time.time()
            s = tc.RECIPE.train(cfg, out=args.out, verbose=0, echo=lambda *a: None)
            seconds = time.time() - t0
            r = s["test_recall"]
            recall = "/".join(f"{r[c]:.2f}" for c in ("negative", "neutral", "positive"))
            rows.append({"labelled": n, "variant": name, "epochs": epochs, **s})
            print(
                f"| {n:,} | {name} | {epochs} | {s['test_macro_f1']:.3f} | "
                f"{s['test_accuracy']:.3f} | {recall} | {seconds:.0f} |",
                flush=True,
            )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=1))
    _plot(rows, args.plot)


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, _, _ in VARIANTS:
        pts = sorted((r["labelled"], r["test_macro_f1"]) for r in rows if r["variant"] == name)
        ax.plot(*zip(*pts), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training tweets")
    ax.set_ylabel("test macro-F1")
    ax.set_title("Tweet sentiment (3 classes, 42/39/18%)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


if __name__ == "__main__":
    main()
