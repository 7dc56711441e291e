"""Train the small domain classifier shipped for fast FID features.

Trains :func:`keraslab.metrics.classifier.build_classifier` on the real training split of a
dataset, reports its test accuracy and writes ``<dataset>_classifier.weights.h5`` plus
``<dataset>_classifier.json`` (training metadata) into ``--out`` (default: the package's
``keraslab/metrics/weights`` folder, where :class:`ClassifierFeatures` looks).

Example:
    KERAS_BACKEND=tensorflow python -m keraslab.metrics.train_classifier --dataset mnist
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np

from keraslab.data import get_dataset, load
from keraslab.engine.seeding import set_seed
from keraslab.metrics.classifier import WEIGHTS_DIR, build_classifier, weights_paths

DEFAULT_EPOCHS = {"mnist": 4, "fashion_mnist": 8, "digits": 20}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m keraslab.metrics.train_classifier",
        description="Train the small CNN whose 'features' layer gives keraslab's fast domain FID.",
    )
    p.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist or digits")
    p.add_argument(
        "--epochs", type=int, default=None, help="default: 4 mnist, 8 fashion_mnist, 20 digits"
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--feature-dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--augment",
        choices=("auto", "shift", "flip", "none"),
        default="auto",
        help="shift: random shifts of up to 2 px (1 px below 16x16); flip: random horizontal "
        "flips; auto (default): none for fashion_mnist (the small net underfits it), shift otherwise",
    )
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help=f"default: {WEIGHTS_DIR}")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress output")
    return p.parse_args(argv)


def _shift(x: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Randomly translate each image by up to ``max_shift`` pixels (zero fill)."""
    n, h, w, _ = x.shape
    pad = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
    dy = rng.integers(0, 2 * max_shift + 1, n)
    dx = rng.integers(0, 2 * max_shift + 1, n)
    out = np.empty_like(x)
    for oy in range(2 * max_shift + 1):
        for ox in range(2 * max_shift + 1):
            idx = np.nonzero((dy == oy) & (dx == ox))[0]
            out[idx] = pad[idx, oy : oy + h, ox : ox + w]
    return out


class _AugmentedBatches(keras.utils.PyDataset):
    """Shuffled mini-batches of training images with random shifts or horizontal flips."""

    def __init__(self, x, y, batch_size, seed, max_shift=0, flip=False):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.max_shift, self.flip = max_shift, flip
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        x = self.x[idx]
        if self.max_shift:
            x = _shift(x, self.rng, self.max_shift)
        if self.flip:
            x = np.where(self.rng.random(len(x))[:, None, None, None] < 0.5, x[:, :, ::-1], x)
        return x, self.y[idx]


def train(args: argparse.Namespace) -> dict:
    """Train, evaluate and save; returns the metadata written to the JSON file."""
    spec = get_dataset(args.dataset)
    epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS.get(spec.name, 5)
    set_seed(args.seed)
    (x, y), (xt, yt) = load(spec.name, "float32")
    augment = args.augment
    if augment == "auto":
        augment = "none" if spec.name == "fashion_mnist" else "shift"
    max_shift = (2 if min(spec.shape[:2]) >= 16 else 1) if augment == "shift" else 0

    model = build_classifier(spec.shape, spec.classes, args.feature_dim)
    steps = int(np.ceil(len(x) / args.batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    data = _AugmentedBatches(x, y, args.batch_size, args.seed, max_shift, augment == "flip")
    t0 = time.time()
    history = model.fit(data, epochs=epochs, verbose=0 if args.quiet else 2)
    train_seconds = time.time() - t0
    test_loss, test_acc = model.evaluate(xt, yt, batch_size=500, verbose=0)
    print(
        f"{spec.name}: test accuracy {test_acc:.4f} (loss {test_loss:.4f}) "
        f"after {epochs} epochs, {train_seconds:.0f} s"
    )

    weights_path, json_path = weights_paths(spec.name, args.out)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "dataset": spec.name,
        "image_shape": list(spec.shape),
        "classes": spec.classes,
        "feature_dim": args.feature_dim,
        "input": "float32 images in [0, 1], (N, H, W, C)",
        "features_layer": "features",
        "test_accuracy": round(float(test_acc), 6),
        "test_loss": round(float(test_loss), 6),
        "train_accuracy": round(float(history.history["accuracy"][-1]), 6),
        "train_images": int(len(x)),
        "test_images": int(len(xt)),
        "epochs": epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "augment": {
            "shift": f"random shifts up to {max_shift} px",
            "flip": "random horizontal flips",
        }.get(augment, "none"),
        "seed": args.seed,
        "params": int(model.count_params()),
        "train_seconds": round(train_seconds, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "command": f"KERAS_BACKEND={keras.backend.backend()} python -m "
        "keraslab.metrics.train_classifier " + " ".join(shlex.quote(a) for a in args.argv),
    }
    # Write to temporary names first, then move into place.
    tmp_weights = weights_path.with_name(f".{spec.name}_classifier.tmp{os.getpid()}.weights.h5")
    tmp_json = json_path.with_name(f".{json_path.name}.tmp{os.getpid()}")
    try:
        # A fresh copy without the optimizer, so the file holds only the model's weights.
        clean = build_classifier(spec.shape, spec.classes, args.feature_dim)
        clean.set_weights(model.get_weights())
        clean.save_weights(str(tmp_weights))
        tmp_json.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp_weights, weights_path)
        os.replace(tmp_json, json_path)
    finally:
        for tmp in (tmp_weights, tmp_json):
            tmp.unlink(missing_ok=True)
    print(f"wrote {weights_path} ({weights_path.stat().st_size / 1e6:.2f} MB) and {json_path}")
    return meta


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv
    return train(args)


if __name__ == "__main__":
    main()
