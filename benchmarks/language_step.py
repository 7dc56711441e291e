"""Training speed of the language recipes' default models on each Keras backend: steps/s of the
gpt (char level, 32 x 128 windows), bert-mlm (64 tweets of 48 tokens, head on ~15% of them) and
text-classifier (64 tweets of 64 tokens) train steps, one subprocess per backend, with the ratio
to the torch backend measured in the same run. Synthetic ids of the real shapes (speed does not
depend on the values); a warm-up epoch first (JAX and TensorFlow compile).

    python benchmarks/language_step.py                       # all three backends
    python benchmarks/language_step.py --backends jax,torch --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import _harness


def measure(steps: int) -> dict:
    import keras
    import numpy as np

    from keraslab.models.bert import BertPretrainer
    from keraslab.models.text_classifier import TextClassifier
    from keraslab.recipes import bert_mlm, gpt, text_classifier

    rng = np.random.default_rng(0)
    out = {}

    def timed(fit):
        fit(2)  # warm-up: compilation
        t0 = time.perf_counter()
        fit(steps)
        return steps / (time.perf_counter() - t0)

    model = gpt.build_model(gpt.Config(), 82)
    x = rng.integers(1, 82, (32 * steps, 129)).astype("int32")
    out["gpt"] = timed(
        lambda n: model.fit(x[: 32 * n, :-1], x[: 32 * n, 1:], batch_size=32, verbose=0)
    )

    cfg = bert_mlm.Config()
    model = bert_mlm.build_model(cfg, 8000, 1000)
    assert isinstance(model, BertPretrainer)
    ids = rng.integers(7, 8000, (64 * steps, 48)).astype("int32")
    pos = np.sort(rng.integers(0, 48, (64 * steps, 11)), axis=1).astype("int32")
    lab = rng.integers(7, 8000, pos.shape).astype("int32")
    w = np.ones(pos.shape, "float32")
    seg = np.zeros_like(ids)
    out["bert-mlm"] = timed(
        lambda n: model.fit(
            (ids[: 64 * n], seg[: 64 * n], pos[: 64 * n]),
            (lab[: 64 * n], w[: 64 * n]),
            batch_size=64,
            verbose=0,
        )
    )

    tc = text_classifier.Config()
    model = text_classifier.build_model(tc, 8000, 3, text_classifier.architecture(tc, None))
    assert isinstance(model, TextClassifier)
    ids = rng.integers(7, 8000, (64 * steps, 64)).astype("int32")
    y = rng.integers(0, 3, 64 * steps).astype("int32")
    out["text-classifier"] = timed(
        lambda n: model.fit(ids[: 64 * n], y[: 64 * n], batch_size=64, verbose=0)
    )
    out["backend"] = keras.backend.backend()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="torch,jax,tensorflow")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.steps)))
        return
    versions = _harness.versions()
    print(
        f"# language models, train steps/s, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs; {versions}; {args.steps} timed steps each\n"
    )
    results = {}
    for backend in args.backends.split(","):
        cmd = ["--child", "--steps", str(args.steps)]
        r, error = _harness.run_child(__file__, backend, cmd)
        if r is None:
            print(f"{backend}: failed: {error}")
            continue
        results[backend] = r
    ref = results.get("torch")
    print("| model | " + " | ".join(f"{b} steps/s" for b in results) + " | vs torch |")
    print("|---|" + "---:|" * (len(results) + 1))
    for model in ("gpt", "bert-mlm", "text-classifier"):
        cells = " | ".join(f"{r[model]:.2f}" for r in results.values())
        ratios = ", ".join(
            f"{b} {r[model] / ref[model]:.2f}x" for b, r in results.items() if ref and b != "torch"
        )
        print(f"| {model} | {cells} | {ratios} |")


if __name__ == "__main__":
    main()
