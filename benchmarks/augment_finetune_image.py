"""Does augmentation help fine-tuning? ``keraslab train finetune-image`` (EfficientNet-Lite0 on
2,000 Fashion-MNIST images at 96 px, its default two stages) with ``--augment none`` and
``--augment default``, same seeds; test accuracy and macro-F1 on the untouched 1,000 test
images, mean +- std over seeds.

    KERAS_BACKEND=torch python benchmarks/augment_finetune_image.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics

from _harness import train_runs

from keraslab.recipes.specs.finetune_image import Config


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="stage-1 epochs (default: recipe's)")
    p.add_argument("--fine-tune-epochs", type=int, default=None)
    args = p.parse_args()
    extra = {k: v for k, v in (("epochs", args.epochs), ("fine_tune_epochs", args.fine_tune_epochs))
             if v is not None}  # fmt: skip
    print(f"finetune-image defaults {extra or ''}, seeds {args.seeds}")
    base = None
    for augment in ("none", "default"):
        runs = train_runs(
            "finetune-image", [Config(seed=s, augment=augment, **extra) for s in args.seeds]
        )
        accs = [summary["test_accuracy"] for summary, _ in runs]
        f1s = [summary["test_macro_f1"] for summary, _ in runs]
        secs = [seconds for _, seconds in runs]
        mean = statistics.mean(accs)
        diff = "" if base is None else f"  ({100 * (mean - base):+.2f} points)"
        base = mean if base is None else base
        print(f"{augment:8s} test accuracy {100 * mean:.2f} +- {100 * statistics.stdev(accs):.2f}%"
              f"{diff}  macro-F1 {statistics.mean(f1s):.3f}  "
              f"[{', '.join(f'{100 * a:.1f}' for a in accs)}]  {statistics.mean(secs):.0f} s/run",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
