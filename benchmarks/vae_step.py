"""VAE training steps/s: keraslab.models.VAE on each Keras backend vs a plain PyTorch loop, same run.

Every configuration runs in its own subprocess (the Keras backend is fixed per process) on the
same random binary 28x28x1 images, batch 128 by default, with the model's defaults: encoder
``build_vae_encoder`` (two Conv2D 3x3 stride 2 + ReLU, Dense 256, two Dense 32 heads), decoder
``build_vae_decoder`` (Dense 256, Dense 7*7*64, two Conv2DTranspose 3x3 stride 2 + ReLU,
Conv2D 3x3 to logits), latent_dim 32, Bernoulli likelihood (binary cross-entropy on logits,
summed over pixels) + KL, Adam(1e-3). The plain PyTorch reference is the same architecture as an
``nn.Module`` with the same loss and optimizer; the script asserts equal parameter counts.

One step = one batch = one forward/backward/Adam update. Steps/s is the median over timed
windows (``--windows`` windows of ``--steps`` steps each) after ``--warmup`` + 1 steps. Ratios are
against the plain PyTorch reference measured in this run.

    python benchmarks/vae_step.py                         # all backends, markdown table on stdout
    python benchmarks/vae_step.py --backends jax,torch --steps 20 --windows 5
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
LATENT = 32


def _data(n):
    """Random binary images (n, 28, 28, 1), float32 -- the step cost does not depend on them."""
    rng = np.random.default_rng(0)
    return (rng.random((n, *IMAGE_SHAPE), dtype=np.float32) < 0.5).astype(np.float32)


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

    from keraslab.models import VAE

    total = _total_steps(args)
    x = _data(total * args.batch_size)
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["vae_loss"])  # wait for the step (JAX dispatches asynchronously)
            stamps.append(time.perf_counter())

    keras.utils.set_random_seed(0)
    vae = VAE(image_shape=IMAGE_SHAPE, latent_dim=LATENT, seed=0)  # default encoder/decoder
    vae.compile()  # Adam(1e-3)
    assert tuple(vae.decoder.output.shape[1:]) == IMAGE_SHAPE, vae.decoder.output.shape
    params = int(vae.encoder.count_params() + vae.decoder.count_params())
    vae.fit(
        **recipe_feed(x, args.batch_size, total),  # as the recipe feeds its images
        epochs=1,
        verbose=0,
        callbacks=[Stamp()],
    )
    return params, *_windows(stamps, args.warmup, args.steps, args.windows)


# ----------------------------------------------------------------- plain PyTorch reference
def build_torch_vae():
    """The keraslab default VAE (latent 32) as a plain PyTorch module: ``model(x)`` returns
    ``(logits, z_mean, z_log_var)`` (NCHW); ``model.decoder(z)`` the logits of decoded ``z``
    (benchmarks/time_to_quality.py trains the same network)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    h, w, c = IMAGE_SHAPE

    # Padding: Keras "same" for Conv2D(3x3, stride 2) on even sizes pads (0 before, 1 after);
    # PyTorch padding=1 pads 1 on both sides, and the extra trailing row/column is never read by
    # the stride-2 window, so only the alignment differs (one-pixel shift), not the output shape
    # or the cost. Keras "same" for Conv2DTranspose(3x3, stride 2) is padding (2, 1) of the
    # dilated input; PyTorch padding=1, output_padding=1 is (1, 2): the mirror image, same output
    # shape (2x) and same cost.
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c, 32, 3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
            self.hidden = nn.Linear((h // 4) * (w // 4) * 64, 256)
            self.z_mean = nn.Linear(256, LATENT)
            self.z_log_var = nn.Linear(256, LATENT)

        def forward(self, x):
            x = F.relu(self.conv2(F.relu(self.conv1(x))))
            x = F.relu(self.hidden(x.flatten(1)))
            return self.z_mean(x), self.z_log_var(x)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(LATENT, 256)
            self.project = nn.Linear(256, (h // 4) * (w // 4) * 64)
            self.deconv1 = nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1)
            self.deconv2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
            self.logits = nn.Conv2d(32, c, 3, padding=1)

        def forward(self, z):
            x = F.relu(self.project(F.relu(self.hidden(z))))
            x = x.view(-1, 64, h // 4, w // 4)
            x = F.relu(self.deconv2(F.relu(self.deconv1(x))))
            return self.logits(x)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Encoder(), Decoder()

        def forward(self, x):
            mean, log_var = self.encoder(x)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)  # reparameterisation
            return self.decoder(z), mean, log_var

    return VAE()


def run_torch(args):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    h, w, c = IMAGE_SHAPE
    model = build_torch_vae()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    params = sum(p.numel() for p in model.parameters())
    total = _total_steps(args)
    x = torch.from_numpy(_data(total * args.batch_size)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        assert model(x[:2])[0].shape == (2, c, h, w)
    stamps = []
    for step in range(total):
        xb = x[step * args.batch_size : (step + 1) * args.batch_size]
        n = xb.shape[0]
        logits, mean, log_var = model(xb)
        # Per-example sums over pixels / latent dims, averaged over the batch (as keraslab).
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") / n
        kl = 0.5 * torch.sum(torch.exp(log_var) + mean.square() - 1.0 - log_var) / n
        loss = recon + kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss.detach())  # the same per-step host read as the Keras callback
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
    p.add_argument("--steps", type=int, default=10, help="steps per timed window")
    p.add_argument("--windows", type=int, default=3, help="timed windows (median reported)")
    p.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed steps before the first window, plus one (compilation)",
    )
    p.add_argument("--batch-size", type=int, default=128)
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
            f"{r['params']} parameters",
            file=sys.stderr,
        )
    counts = {label: r["params"] for label, r in results}
    assert len(set(counts.values())) == 1, f"parameter counts differ: {counts}"

    ref = results[0][1]["median"]
    print(
        f"\nVAE (keraslab defaults, latent {LATENT}, Bernoulli), batch {args.batch_size}, "
        f"{results[0][1]['params']:,} parameters (keraslab and PyTorch equal), "
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
