"""Generation speed of a trained gpt run: new tokens/s with and without the key/value cache, on
each Keras backend (one subprocess per backend).

Each setting continues the same prompt (batch of ``--batch`` rows) by ``--tokens`` tokens with
top-k sampling and a fixed seed, after a warm-up call (JAX compiles once per shape). Without the
cache every step re-reads the full context window (``sequence_length`` positions); with it each
step feeds one token. Within one window the two give identical tokens (checked and printed).

    python benchmarks/gpt_generate.py --run runs/gpt-...                    # torch
    python benchmarks/gpt_generate.py --run RUN --backends jax,tensorflow,torch
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import _harness


def measure(args):
    from keraslab.recipes.gpt import RECIPE, encode_prompt
    from keraslab.runs import open_run

    job = RECIPE.load(open_run(args.run), "last")
    model, config, tokenizer = job.model, job.config, job.assets
    ids = [encode_prompt(tokenizer, args.prompt)] * args.batch
    results = {}
    outputs = {}
    for cache in (True, False):
        kw = dict(temperature=0.8, top_k=40, seed=0, use_cache=cache)
        model.generate(ids, 8, **kw)  # warm-up (JAX compilation)
        t0 = time.perf_counter()
        out = model.generate(ids, args.tokens, **kw)
        seconds = time.perf_counter() - t0
        results[cache] = args.batch * args.tokens / seconds
        outputs[cache] = out
    room = config.sequence_length - len(ids[0])  # tokens generated inside the first window
    same = [a[:room] == b[:room] for a, b in zip(outputs[True], outputs[False])]
    return {
        "cached": results[True],
        "uncached": results[False],
        "same_within_window": all(same),
        "window": config.sequence_length,
        "level": config.level,
        "parameters": int(model.count_params()),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a gpt run folder")
    p.add_argument("--backends", default="torch")
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt", default="It is a truth")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    versions = _harness.versions()
    print(
        f"# gpt generation, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs; {versions}; run {args.run}; {args.tokens} new tokens, "
        f"batch {args.batch}\n"
    )
    print("| backend | tokens/s with cache | tokens/s without | cache speed-up | same tokens |")
    print("|---|---:|---:|---:|---|")
    for backend in args.backends.split(","):
        cmd = ["--run", args.run, "--tokens", str(args.tokens)]
        cmd += ["--batch", str(args.batch), "--prompt", args.prompt, "--child", "1"]
        r, error = _harness.run_child(__file__, backend, cmd)
        if r is None:
            print(f"| {backend} | failed: {error} ||||")
            continue
        print(
            f"| {backend} | {r['cached']:.1f} | {r['uncached']:.1f} | "
            f"{r['cached'] / r['uncached']:.2f}x | {r['same_within_window']} |"
        )


if __name__ == "__main__":
    main()
