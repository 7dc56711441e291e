"""Translation speed: sentences/s of greedy and beam-4 decoding, with and without the key/value
cache, for a trained translator run, on each Keras backend (one subprocess per backend).

The sentences are the first ``--n`` English verses of the run's test split (John), translated in
batches of ``--batch-size`` sorted by length, exactly as ``keraslab translate`` / ``evaluate`` do.
A warm-up pass over the same sentences runs first (JAX compiles each new shape once), so the
timed pass is the steady state of a long translation job. The script
also checks that cached and uncached decoding produce identical translations.

    python benchmarks/translator_decode.py --run runs/translator-...            # torch
    python benchmarks/translator_decode.py --run RUN --backends jax,tensorflow,torch --n 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import _harness

MODES = [
    ("greedy", True),
    ("greedy", False),
    ("beam", True),
    ("beam", False),
]


def measure(args):
    from keraslab.recipes.translator import RECIPE, load_data, translate_sentences
    from keraslab.runs import open_run

    job = RECIPE.load(open_run(args.run), "last")
    model, config, tokenizer = job.model, job.config, job.assets
    sentences = [en for en, _ in load_data(config).test[: args.n]]
    results, outputs = [], {}
    for method, cache in MODES:
        kwargs = dict(method=method, beam_width=4, use_cache=cache, batch_size=args.batch_size)
        translate_sentences(model, tokenizer, sentences, **kwargs)  # warm-up: JAX compiles
        t0 = time.perf_counter()
        out, _ = translate_sentences(model, tokenizer, sentences, **kwargs)
        seconds = time.perf_counter() - t0
        outputs[(method, cache)] = out
        tokens = sum(len(tokenizer.encode(o)) + 1 for o in out)
        results.append(
            {
                "method": method,
                "cache": cache,
                "sentences_per_s": len(sentences) / seconds,
                "output_tokens_per_s": tokens / seconds,
                "seconds": seconds,
            }
        )
    same = {m: outputs[(m, True)] == outputs[(m, False)] for m in ("greedy", "beam")}
    return {"results": results, "cached_equals_uncached": same, "sentences": len(sentences)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a translator run folder")
    p.add_argument("--backends", default="torch")
    p.add_argument("--n", type=int, default=64, help="test sentences (default 64)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    versions = _harness.versions()
    print(
        f"# translator decoding, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs; {versions}; run {args.run}; {args.n} John verses, "
        f"batches of {args.batch_size}\n"
    )
    print("| backend | decoding | KV cache | sentences/s | output tokens/s | cache vs none |")
    print("|---|---|---|---:|---:|---:|")
    for backend in args.backends.split(","):
        cmd = ["--run", args.run, "--n", str(args.n)]
        cmd += ["--batch-size", str(args.batch_size), "--child", "1"]
        r, error = _harness.run_child(__file__, backend, cmd)
        if r is None:
            print(f"| {backend} | failed: {error} |||||")
            continue
        speed = {(x["method"], x["cache"]): x["sentences_per_s"] for x in r["results"]}
        for x in r["results"]:
            name = "greedy" if x["method"] == "greedy" else "beam 4"
            ratio = speed[(x["method"], True)] / speed[(x["method"], False)]
            print(
                f"| {backend} | {name} | {'yes' if x['cache'] else 'no'} | "
                f"{x['sentences_per_s']:.2f} | {x['output_tokens_per_s']:.1f} | "
                f"{ratio:.2f}x |"
            )
        print(f"<!-- {backend}: cached == uncached outputs: {r['cached_equals_uncached']} -->")


if __name__ == "__main__":
    main()
