"""Parameter-efficient transfer on the tweets (issue 8): the pretrained all-MiniLM-L6-v2 encoder
with a new head, trained four ways — frozen encoder, full fine-tuning, Houlsby adapters, LoRA —
on the same stratified subset of labelled tweets with the same class weights, scored on the same
test split as the from-scratch `text-classifier` (BENCHMARKS.md, issue 6). One
`keraslab train finetune-text` run per method (the CLI's code); prints a markdown table of
trainable parameters, test macro-F1 / accuracy and training time.

    python benchmarks/finetune_text.py --out runs/bench-finetune [--labelled 2000] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench-finetune")
    p.add_argument("--methods", default="frozen,full,adapters,lora")
    p.add_argument("--labelled", default="2000")
    p.add_argument("--epochs", default="3")
    p.add_argument("--backend", default="torch")
    args = p.parse_args()
    from keraslab.cli import main as cli

    print(f"# {platform.machine()}, {time.strftime('%Y-%m-%d')}, backend {args.backend}")
    rows = []
    for method in args.methods.split(","):
        out = Path(args.out) / method
        if not (out.exists() and list(out.glob("*/summary.json"))):
            rc = cli(["train", "finetune-text", "--method", method, "--labelled", args.labelled,
                      "--epochs", args.epochs, "--backend", args.backend, "--quiet",
                      "--out", str(out)])  # fmt: skip
            if rc:
                raise SystemExit(rc)
        (summary,) = out.glob("*/summary.json")
        s = json.loads(summary.read_text())
        rows.append((method, s))
    print(f"\n{args.labelled} labelled tweets, {args.epochs} epochs, best-validation checkpoint")
    print("| method | trained parameters | % of model | test macro-F1 | test accuracy | training |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, s in rows:
        pc = s["parameters"]
        print(f"| {method} | {pc['trainable']:,} | {pc['percent']:.2f}% | {s['test_macro_f1']:.3f} | "
              f"{s['test_accuracy']:.3f} | {s['train_seconds_this_session'] / 60:.1f} min |")  # fmt: skip


if __name__ == "__main__":
    main()
