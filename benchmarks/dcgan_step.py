"""DCGAN training steps/s: keraslab on each Keras backend vs a plain PyTorch loop, same run.

Every configuration runs in its own subprocess (the Keras backend is fixed per process) on the
same data (MNIST when installed, else random images), batch 128, the lecture's v2 architecture.
Steps/s is the median of 3 timed windows after a warm-up. Ratios are against the plain PyTorch
reference measured in this run.

    python benchmarks/dcgan_step.py                  # all backends, markdown table on stdout
    python benchmarks/dcgan_step.py --with-native    # also JAX with Keras's own Conv2DTranspose
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

BATCH = 128
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
def run_keras(conv_transpose, warmup, window):
    import keras

    from keraslab.models import DCGAN

    total = warmup + 3 * window + 1
    x = _data(total * BATCH)
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["g_loss"])  # wait for the step (JAX dispatches asynchronously)
            stamps.append(time.perf_counter())

        def on_train_begin(self, logs=None):
            stamps.append(time.perf_counter())

    keras.utils.set_random_seed(0)
    gan = DCGAN(
        image_shape=(28, 28, 1),
        latent_dim=LATENT,
        conv_transpose=conv_transpose,
        seed=0,
        arch="lecture",
    )
    gan.compile()
    gan.fit(
        x,
        batch_size=BATCH,
        epochs=1,
        steps_per_epoch=total,
        shuffle=False,
        verbose=0,
        callbacks=[Stamp()],
    )
    # stamps[0] is train begin; stamps[i] the end of step i.
    return _windows(stamps[1:], warmup, window)


# ----------------------------------------------------------------- plain PyTorch reference
def run_torch(warmup, window):
    import torch
    from torch import nn

    torch.manual_seed(0)

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
    opt_d = torch.optim.Adam(d.parameters(), 1e-4)
    opt_g = torch.optim.Adam(g.parameters(), 1e-4)
    bce = nn.BCEWithLogitsLoss()
    total = warmup + 3 * window + 1
    x = torch.from_numpy(_data(total * BATCH)).permute(0, 3, 1, 2).contiguous()
    stamps = []
    for step in range(total):
        real = x[step * BATCH : (step + 1) * BATCH]
        n = real.shape[0]
        with torch.no_grad():
            fake = g(torch.randn(n, LATENT))
        labels = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)])
        labels = labels + 0.05 * torch.rand_like(labels)
        loss_d = bce(d(torch.cat([fake, real])), labels)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(g(torch.randn(n, LATENT))), torch.zeros(n, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        stamps.append(time.perf_counter())
    return _windows(stamps, warmup, window)


def worker(args):
    if args.worker == "torch":
        median, rates = run_torch(args.warmup, args.window)
    else:
        median, rates = run_keras(args.conv_transpose, args.warmup, args.window)
    print("RESULT " + json.dumps({"median": median, "windows": rates}))


def spawn(kind, backend=None, conv="auto", warmup=5, window=10):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend:
        env["KERAS_BACKEND"] = backend
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--conv-transpose",
        conv,
        "--warmup",
        str(warmup),
        "--window",
        str(window),
    ]
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
    p.add_argument("--conv-transpose", default="auto")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--backends", default="tensorflow,jax,torch")
    p.add_argument(
        "--with-native", action="store_true", help="also JAX with Keras's Conv2DTranspose"
    )
    args = p.parse_args()
    if args.worker:
        return worker(args)

    configs = [("plain PyTorch (reference)", "torch", None, "auto")]
    for b in args.backends.split(","):
        configs.append((f"keraslab / {b}", "keras", b, "auto"))
    if args.with_native:
        configs.append(("keraslab / jax, Keras Conv2DTranspose", "keras", "jax", "native"))
    results = []
    for label, kind, backend, conv in configs:
        small = conv == "native" and backend == "jax"  # ~10x slower: fewer steps
        r = spawn(
            kind,
            backend,
            conv,
            warmup=2 if small else args.warmup,
            window=3 if small else args.window,
        )
        results.append((label, r))
        print(
            f"{label}: {r['median']:.3f} steps/s (windows {', '.join(f'{w:.3f}' for w in r['windows'])})",
            file=sys.stderr,
        )
    ref = results[0][1]["median"]
    print(
        f"\nDCGAN (lecture v2), batch {BATCH}, {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    print("| configuration | steps/s (median of 3 windows) | ratio vs plain PyTorch |")
    print("|---|---|---|")
    for label, r in results:
        print(f"| {label} | {r['median']:.3f} | {r['median'] / ref:.2f} |")


if __name__ == "__main__":
    main()
