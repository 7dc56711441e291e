"""Does EDA help the text classifier on 500 labelled tweets? ``keraslab train text-classifier
--labelled 500`` with ``--augment none``, ``--augment eda`` (4 copies of each training
tweet; validation and test untouched) and ``--embedding-noise S`` (noise on the token
embeddings in training), the same model, epochs and seeds; test macro-F1 and accuracy of the
best checkpoint, mean +- std over seeds. With ``--forward RUN --back RUN`` (two translator
runs, en-es and es-en) also ``--augment backtranslate`` (one paraphrase of each training tweet).

    KERAS_BACKEND=torch python benchmarks/augment_text.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics

from _harness import train_runs

from keraslab.recipes.specs.text_classifier import Config


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--labelled", type=int, default=500)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--imbalance", default="none")
    p.add_argument("--noise", type=float, nargs="*", default=[0.1, 0.3], help="embedding noise")
    p.add_argument("--forward", help="an en-es translator run: adds --augment backtranslate")
    p.add_argument("--back", help="its es-en translator run")
    p.add_argument("--only", nargs="*", help="run only these variants (e.g. none backtranslate)")
    args = p.parse_args()
    print(f"text-classifier, {args.labelled} labelled tweets, {args.epochs} epochs, imbalance "
          f"{args.imbalance}, seeds {args.seeds}")  # fmt: skip
    base = None
    variants = [("none", {}), ("eda", {"augment": "eda"})]
    variants += [(f"noise {s}", {"embedding_noise": s}) for s in args.noise]
    if args.forward and args.back:
        variants.append(
            (
                "backtranslate",
                {"augment": "backtranslate", "forward": args.forward, "back": args.back},
            )  # fmt: skip
        )
    if args.only:
        variants = [v for v in variants if v[0] in args.only]
    for name, extra in variants:
        configs = [
            Config(labelled=args.labelled, epochs=args.epochs, seed=seed,
                   augment_copies=args.copies, imbalance=args.imbalance, **extra)
            for seed in args.seeds
        ]  # fmt: skip
        runs = train_runs("text-classifier", configs)
        f1s = [summary["test_macro_f1"] for summary, _ in runs]
        accs = [summary["test_accuracy"] for summary, _ in runs]
        secs = [seconds for _, seconds in runs]
        mean = statistics.mean(f1s)
        diff = "" if base is None else f"  ({mean - base:+.3f})"
        base = mean if base is None else base
        print(f"{name:9s} test macro-F1 {mean:.3f} +- {statistics.stdev(f1s):.3f}{diff}  "
              f"accuracy {statistics.mean(accs):.3f}  [{', '.join(f'{f:.3f}' for f in f1s)}]  "
              f"{statistics.mean(secs):.0f} s/run", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
