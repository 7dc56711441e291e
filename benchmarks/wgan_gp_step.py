"""WGAN-GP training steps/s: keraslab.models.WGANGP on each Keras backend vs plain PyTorch, same run.

Every configuration runs in its own subprocess (the Keras backend is fixed per process) on the
same random 28x28x1 images in [0, 1], batch 64 by default, with the model's defaults: generator
``build_generator(64, base_channels=128, widths=(64, 32, 32))`` (Dense 7*7*128, Conv2DTranspose
4x4 with strides 2, 2, 1 + LeakyReLU(0.2), Conv2D 5x5 sigmoid), critic ``build_critic`` (Conv2D
4x4 stride 2 with 64 and 128 filters + LeakyReLU(0.2), Dense 1), n_critic 5, gp_weight 10,
Adam(2e-4, beta_1=0.5, beta_2=0.9) for both. The plain PyTorch reference is the same
architecture with the same losses, the penalty through ``torch.autograd.grad(create_graph=True)``;
the script asserts equal parameter counts.

One step = one batch = 5 critic updates (each: a fresh generated batch, the critic on real, fake
and interpolated images, the penalty's double backward) + 1 generator update. Steps/s is the
median over timed windows (``--windows`` windows of ``--steps`` steps each) after ``--warmup`` + 1
steps. Ratios are against the plain PyTorch reference measured in this run.

    python benchmarks/wgan_gp_step.py                     # all backends, markdown table on stdout
    python benchmarks/wgan_gp_step.py --backends jax --steps 5 --windows 5
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from _harness import recipe_feed

IMAGE_SHAPE = (28, 28, 1)
LATENT = 64
N_CRITIC = 5
GP_WEIGHT = 10.0


def _data(n):
    """Random images (n, 28, 28, 1) in [0, 1], float32 -- the step cost does not depend on them."""
    return np.random.default_rng(0).random((n, *IMAGE_SHAPE), dtype=np.float32)


def _windows(stamps, warmup, steps, windows):
    """Median and per-window steps/s from per-step end times (stamps[i]: end of step i); window
    w covers steps warmup + w * steps + 1 .. warmup + (w + 1) * steps."""
    rates = []
    for w in range(windows):
        a, b = warmup + w * steps, warmup + (w + 1) * steps
        rates.append(steps / (stamps[b] - stamps[a]))
    return float(np.median(rates)), rates


def _total_steps(args):
    return args.warmup + args.windows * args.steps + 1


# ----------------------------------------------------------------- keraslab on a Keras backend
def run_keras(args):
    import keras

    from keraslab.models import WGANGP

    total = _total_steps(args)
    x = _data(total * args.batch_size)
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["g_loss"])  # wait for the step (JAX dispatches asynchronously)
            stamps.append(time.perf_counter())

    keras.utils.set_random_seed(0)
    gan = WGANGP(
        image_shape=IMAGE_SHAPE, latent_dim=LATENT, n_critic=N_CRITIC, gp_weight=GP_WEIGHT, seed=0
    )  # default generator and critic
    gan.compile()  # Adam(2e-4, beta_1=0.5, beta_2=0.9) for both phases
    assert tuple(gan.generator.output.shape[1:]) == IMAGE_SHAPE, gan.generator.output.shape
    assert tuple(gan.critic.output.shape[1:]) == (1,), gan.critic.output.shape
    params = {"generator": gan.generator.count_params(), "critic": gan.critic.count_params()}
    gan.fit(
        **recipe_feed(x, args.batch_size, total),  # as the recipe feeds its images
        epochs=1,
        verbose=0,
        callbacks=[Stamp()],
    )
    return params, *_windows(stamps, args.warmup, args.steps, args.windows)


# ----------------------------------------------------------------- plain PyTorch reference
def build_torch_networks():
    """The keraslab default generator and critic as plain ``nn.Sequential`` (NCHW).

    Padding: Keras "same" for Conv2DTranspose(4x4, stride 2) pads the dilated input (2, 2), which
    is PyTorch's padding=1 (output 2x); Keras "same" for Conv2D(4x4, stride 2) on the even sizes
    28 and 14 pads (1, 1), which is PyTorch's padding=1. Both are symmetric here and give the same
    outputs as Keras for the same weights. The one asymmetric case is the stride-1
    Conv2DTranspose(4x4) "same" (pads the input (2, 1)): PyTorch's padding=1 gives 29x29 and the
    last row and column are cropped, which yields Keras's 28x28 output exactly but computes the
    extra row/column (about 7% more work in that layer for plain PyTorch).
    """
    from torch import nn

    h, w, c = IMAGE_SHAPE

    class Crop(nn.Module):
        def forward(self, t):
            return t[:, :, :h, :w]

    generator = nn.Sequential(
        nn.Linear(LATENT, (h // 4) * (w // 4) * 128),
        nn.Unflatten(1, (128, h // 4, w // 4)),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(32, 32, 4, stride=1, padding=1),  # 29x29
        Crop(),  # -> 28x28, Keras's "same"
        nn.LeakyReLU(0.2),
        nn.Conv2d(32, c, 5, padding=2),
        nn.Sigmoid(),
    )
    critic = nn.Sequential(
        nn.Conv2d(c, 64, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear((h // 4) * (w // 4) * 128, 1),
    )
    return generator, critic


def run_torch(args):
    import torch

    torch.manual_seed(0)
    g, d = build_torch_networks()
    params = {
        "generator": sum(p.numel() for p in g.parameters()),
        "critic": sum(p.numel() for p in d.parameters()),
    }
    with torch.no_grad():
        assert g(torch.zeros(2, LATENT)).shape == (2, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2])
        assert d(torch.zeros(2, IMAGE_SHAPE[2], *IMAGE_SHAPE[:2])).shape == (2, 1)
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.9))
    g_params = list(g.parameters())
    total = _total_steps(args)
    x = torch.from_numpy(_data(total * args.batch_size)).permute(0, 3, 1, 2).contiguous()
    stamps = []
    for step in range(total):
        real = x[step * args.batch_size : (step + 1) * args.batch_size]
        n = real.shape[0]
        for _ in range(N_CRITIC):
            with torch.no_grad():
                fake = g(torch.randn(n, LATENT))
            real_score = d(real).mean()
            fake_score = d(fake).mean()
            alpha = torch.rand(n, 1, 1, 1)
            x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
            norm = torch.sqrt(grad.square().sum(dim=(1, 2, 3)) + 1e-12)
            gp = (norm - 1.0).square().mean()
            loss_d = fake_score - real_score + GP_WEIGHT * gp
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        loss_g = -d(g(torch.randn(n, LATENT))).mean()
        # Gradients for the generator only (keraslab differentiates each phase with respect to
        # its own variables; no critic weight gradients here).
        grads = torch.autograd.grad(loss_g, g_params)
        for p, gr in zip(g_params, grads):
            p.grad = gr
        opt_g.step()
        float(loss_g.detach())  # the same per-step host read as the Keras callback
        stamps.append(time.perf_counter())
    return params, *_windows(stamps, args.warmup, args.steps, args.windows)


def worker(args):
    run = run_torch if args.worker == "torch" else run_keras
    params, median, rates = run(args)
    print("RESULT " + json.dumps({"params": params, "median": median, "windows": rates}))


def spawn(kind, backend, args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend:
        env["KERAS_BACKEND"] = backend
    cmd = [sys.executable, __file__, "--worker", kind]
    for opt in ("warmup", "steps", "windows", "batch_size"):
        cmd += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind}/{backend} failed:\n{out.stderr[-3000:]}")


def _version(*packages):
    for package in packages:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return "not installed"


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--worker", choices=("torch", "keras"), help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=2, help="steps (batches) per timed window")
    p.add_argument("--windows", type=int, default=3, help="timed windows (median reported)")
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed steps before the first window, plus one (compilation)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--backends", default="tensorflow,jax,torch", help="comma-separated Keras backends"
    )
    args = p.parse_args()
    if min(args.steps, args.windows, args.batch_size) < 1 or args.warmup < 0:
        p.error("--steps, --windows and --batch-size must be >= 1, --warmup >= 0.")
    if args.worker:
        return worker(args)

    configs = [("plain PyTorch (reference)", "torch", None)]
    for b in args.backends.split(","):
        configs.append((f"keraslab / {b.strip()}", "keras", b.strip()))
    results = []
    for label, kind, backend in configs:
        r = spawn(kind, backend, args)
        results.append((label, r))
        print(
            f"{label}: {r['median']:.3f} steps/s (windows {', '.join(f'{w:.3f}' for w in r['windows'])}), "
            f"parameters {r['params']}",
            file=sys.stderr,
        )
    counts = {label: r["params"] for label, r in results}
    assert all(c == results[0][1]["params"] for c in counts.values()), (
        f"parameter counts differ: {counts}"
    )

    ref = results[0][1]["median"]
    n = results[0][1]["params"]
    print(
        f"\nWGAN-GP (keraslab defaults, n_critic {N_CRITIC}, gp_weight {GP_WEIGHT:g}; one step = "
        f"{N_CRITIC} critic + 1 generator updates), batch {args.batch_size}, parameters: "
        f"generator {n['generator']:,}, critic {n['critic']:,} (keraslab and PyTorch equal), "
        f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {_version('torch')}, keras {_version('keras')}, jax {_version('jax')}, "
        f"tensorflow {_version('tensorflow', 'tensorflow-cpu')}\n"
    )
    print(
        f"| configuration | steps/s (median of {args.windows} windows x {args.steps} steps) "
        "| ratio vs plain PyTorch |"
    )
    print("|---|---|---|")
    for label, r in results:
        print(f"| {label} | {r['median']:.3f} | {r['median'] / ref:.2f} |")


if __name__ == "__main__":
    main()
