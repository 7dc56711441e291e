"""DCGAN training steps/s: keraslab on each Keras backend vs a plain PyTorch loop, same run.

Every configuration runs in its own subprocess (the Keras backend is fixed per process) on the
same data (MNIST when installed, else random images). ``--arch dcgan`` (the default) is the
recipe's default network at its default batch (64) and optimizers; ``--arch lecture`` the
course's v2 network at batch 128. Steps/s is the median of 3 timed windows after a warm-up.
Ratios are against the plain PyTorch loop of the same network measured in this run: at equal
precision (float32 against float32, keraslab's bfloat16 against the loop under
``torch.autocast("cpu", dtype=torch.bfloat16)``) and, for bfloat16, against the float32 loop a
user would write.

    python benchmarks/dcgan_step.py                        # dcgan preset, float32 and bfloat16
    python benchmarks/dcgan_step.py --precisions float32   # float32 only
    python benchmarks/dcgan_step.py --arch lecture --with-native
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from _harness import recipe_feed

BATCHES = {"dcgan": 64, "lecture": 128}
LATENT = 64


def _data(n):
    try:
        from keraslab.data import load

        (x, _), _ = load("mnist", "float32")
        return x[:n]
    except Exception:
        return np.random.default_rng(0).random((n, 28, 28, 1), dtype=np.float32)


def _windows(stamps, warmup, window):
    rates = []
    for w in range(3):
        a, b = warmup + w * window, warmup + (w + 1) * window
        rates.append(window / (stamps[b] - stamps[a]))
    return float(np.median(rates)), rates


# ----------------------------------------------------------------- keraslab on a Keras backend
def run_keras(arch, precision, conv_transpose, warmup, window, steps_per_execution=1, jit="auto"):
    import keras

    from keraslab.engine import fastest_jit_compile
    from keraslab.engine.precision import precision as policy
    from keraslab.models import DCGAN
    from keraslab.recipes.specs.dcgan import PRESET_LEARNING_RATE

    batch = BATCHES[arch]
    total = warmup + 3 * window + 1
    total += -total % steps_per_execution
    x = _data(total * batch)
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["g_loss"])  # wait for the step (JAX dispatches asynchronously)
            stamps.append(time.perf_counter())

        def on_train_begin(self, logs=None):
            stamps.append(time.perf_counter())

    keras.utils.set_random_seed(0)
    with policy(precision):
        gan = DCGAN(
            image_shape=(28, 28, 1),
            latent_dim=LATENT,
            conv_transpose=conv_transpose,
            seed=0,
            arch=arch,
        )
    if arch == "lecture":  # the lecture's Adam(1e-4), Keras's default jit
        gan.compile(steps_per_execution=steps_per_execution)
    else:  # the recipe's: Adam(lr, beta_1 0.5) for both, the fastest jit setting
        lr = PRESET_LEARNING_RATE[arch]
        gan.compile(
            d_optimizer=keras.optimizers.Adam(lr, beta_1=0.5),
            g_optimizer=keras.optimizers.Adam(lr, beta_1=0.5),
            jit_compile=fastest_jit_compile() if jit == "auto" else jit == "on",
            steps_per_execution=steps_per_execution,
        )
    gan.fit(
        **recipe_feed(x, batch, total),  # as the recipe feeds its images
        epochs=1,
        verbose=0,
        callbacks=[Stamp()],
    )
    # stamps[0] is train begin; stamps[i] the end of call i (steps_per_execution steps each).
    return _per_step(stamps[1:], steps_per_execution, warmup, window)


def _per_step(stamps, k, warmup, window):
    """Steps/s windows from stamps taken at the end of every call of ``k`` steps (warm-up and
    window are whole calls: the caller makes them multiples of ``k``)."""
    median, rates = _windows(stamps, warmup // k, window // k)
    return median * k, [r * k for r in rates]


# ----------------------------------------------------------------- plain PyTorch reference
def _torch_lecture(nn):
    """The lecture's v2 networks (as ``arch="lecture"``)."""

    class Crop(nn.Module):
        def forward(self, t):
            return t[:, :, :28, :28]

    g = nn.Sequential(
        nn.Linear(LATENT, 7 * 7 * 8),
        nn.Unflatten(1, (8, 7, 7)),
        nn.ConvTranspose2d(8, 64, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(64, 128, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(128, 128, 4, 1, 1),
        Crop(),
        nn.LeakyReLU(0.2),  # 29x29 -> 28x28 ("same")
        nn.Conv2d(128, 1, 5, padding=2),
        nn.Sigmoid(),
    )
    d = nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 64, 4, 1, padding="same"),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(7 * 7 * 64, 1),
    )
    return g, d, 1e-4, (0.9, 0.999)


def torch_dcgan(nn):
    """The ``dcgan`` preset as plain PyTorch networks, with its Adam learning rate and betas
    (benchmarks/dcgan_time_to_quality.py trains the same networks)."""

    def bn2(c):
        return nn.BatchNorm2d(c, momentum=0.1, eps=1e-5)

    g = nn.Sequential(
        nn.Linear(LATENT, 7 * 7 * 128, bias=False),
        nn.BatchNorm1d(7 * 7 * 128, momentum=0.1, eps=1e-5),
        nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
        bn2(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False),
        bn2(32),
        nn.ReLU(),
        nn.Conv2d(32, 1, 3, 1, 1),
        nn.Sigmoid(),
    )
    d = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False),
        bn2(128),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(7 * 7 * 128, 1),
    )
    return g, d, 1e-3, (0.5, 0.999)


def run_torch(arch, precision, warmup, window):
    """The standard loop: generated images under no_grad for the D step, real and generated
    images in separate D calls (as keraslab's DCGAN), zero_grad / backward / step; bfloat16 by
    ``torch.autocast`` around the forward passes."""
    import contextlib

    import torch
    from torch import nn

    torch.manual_seed(0)
    g, d, lr, betas = (torch_dcgan if arch == "dcgan" else _torch_lecture)(nn)
    opt_d = torch.optim.Adam(d.parameters(), lr, betas=betas)
    opt_g = torch.optim.Adam(g.parameters(), lr, betas=betas)
    bce = nn.BCEWithLogitsLoss()

    def autocast():
        if precision == "bfloat16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    batch = BATCHES[arch]
    total = warmup + 3 * window + 1
    x = torch.from_numpy(_data(total * batch)).permute(0, 3, 1, 2).contiguous()
    stamps = []
    for step in range(total):
        real = x[step * batch : (step + 1) * batch]
        n = real.shape[0]
        with torch.no_grad(), autocast():
            fake = g(torch.randn(n, LATENT))
        noise = 0.05 * torch.rand(2 * n, 1)
        with autocast():
            fake_logits, real_logits = d(fake).float(), d(real).float()
        loss_d = 0.5 * (bce(fake_logits, 1.0 - noise[:n]) + bce(real_logits, noise[n:]))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        with autocast():
            logits = d(g(torch.randn(n, LATENT))).float()
        loss_g = bce(logits, torch.zeros(n, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        stamps.append(time.perf_counter())
    return _windows(stamps, warmup, window)


def worker(args):
    if args.worker == "torch":
        median, rates = run_torch(args.arch, args.precision, args.warmup, args.window)
    else:
        median, rates = run_keras(
            args.arch,
            args.precision,
            args.conv_transpose,
            args.warmup,
            args.window,
            args.steps_per_execution,
            args.jit,
        )
    print("RESULT " + json.dumps({"median": median, "windows": rates}))


def spawn(
    kind, backend, args, conv="auto", precision="float32", spe=1, warmup=5, window=10, jit="auto"
):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend:
        env["KERAS_BACKEND"] = backend
    # whole calls of `spe` steps (see _per_step)
    warmup, window = -(-warmup // spe) * spe, -(-window // spe) * spe
    cmd = [sys.executable, __file__, "--worker", kind, "--arch", args.arch]
    cmd += ["--precision", precision, "--conv-transpose", conv, "--steps-per-execution", str(spe)]
    cmd += ["--warmup", str(warmup), "--window", str(window), "--jit", jit]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind}/{backend} failed:\n{out.stderr[-3000:]}")


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--worker", choices=("torch", "keras"))
    p.add_argument("--arch", choices=tuple(BATCHES), default="dcgan")
    p.add_argument("--precision", default="float32", help=argparse.SUPPRESS)  # a worker's
    p.add_argument("--precisions", default="float32,bfloat16")
    p.add_argument("--conv-transpose", default="auto")
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--jit", choices=("auto", "on", "off"), default="auto", help=argparse.SUPPRESS)
    p.add_argument(
        "--spe", default="10", help="also these steps_per_execution (comma-separated; 1 always)"
    )
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--backends", default="tensorflow,torch,jax")
    p.add_argument(
        "--with-native", action="store_true", help="also JAX with Keras's Conv2DTranspose"
    )
    args = p.parse_args()
    if args.worker:
        return worker(args)

    configs = []  # (label, kind, backend, conv, precision, steps_per_execution, jit)
    for prec in args.precisions.split(","):
        configs.append((f"plain PyTorch, {prec}", "torch", None, "auto", prec, 1, "auto"))
        for b in args.backends.split(","):
            if b == "tensorflow":  # with and without XLA (oneDNN kernels)
                for jit, name in (("on", "XLA"), ("off", "no XLA")):
                    configs.append(
                        (f"keraslab / {b} {name}, {prec}", "keras", b, "auto", prec, 1, jit)
                    )
            else:
                configs.append((f"keraslab / {b}, {prec}", "keras", b, "auto", prec, 1, "auto"))
            if prec == "float32" and b in ("tensorflow", "jax"):
                for k in (int(v) for v in args.spe.split(",") if v and int(v) > 1):
                    label = f"keraslab / {b}, {prec}, steps_per_execution={k}"
                    configs.append((label, "keras", b, "auto", prec, k, "auto"))
    if args.with_native:
        configs.append(
            (
                "keraslab / jax, Keras Conv2DTranspose",
                "keras",
                "jax",
                "native",
                "float32",
                1,
                "auto",
            )
        )
    results = {}
    for label, kind, backend, conv, prec, k, jit in configs:
        small = conv == "native" and backend == "jax"  # ~10x slower: fewer steps
        r = spawn(
            kind,
            backend,
            args,
            conv,
            prec,
            k,
            warmup=2 if small else args.warmup,
            window=3 if small else args.window,
            jit=jit,
        )
        results[label] = (prec, r)
        print(
            f"{label}: {r['median']:.3f} steps/s (windows {', '.join(f'{w:.3f}' for w in r['windows'])})",
            file=sys.stderr,
        )
    fp32 = results.get("plain PyTorch, float32", (None, {"median": float("nan")}))[1]["median"]
    print(
        f"\nDCGAN ({args.arch} preset), batch {BATCHES[args.arch]}, {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print(
        "| configuration | steps/s (median of 3 windows) | vs plain PyTorch, same precision | vs plain PyTorch float32 |"
    )
    print("|---|---|---|---|")
    for label, (prec, r) in results.items():
        same = results.get(f"plain PyTorch, {prec}", (None, {"median": float("nan")}))[1]
        print(
            f"| {label} | {r['median']:.2f} | {r['median'] / same['median']:.2f} | "
            f"{r['median'] / fp32:.2f} |"
        )


if __name__ == "__main__":
    main()
