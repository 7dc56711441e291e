"""Does image augmentation help a small CNN trained on 1,000 Fashion-MNIST images? Test accuracy
on the untouched 10,000 test images with and without :func:`keraslab.augment.image_augmenter`
inside the model (same network, optimizer, epochs and seeds), mean +- std over seeds.

    KERAS_BACKEND=jax python benchmarks/augment_images.py --seeds 0 1 2 --epochs 40

Prints one line per setting: accuracy mean +- std, its difference to no augmentation, and the
training seconds per run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from keraslab.cli.quiet import silence_tensorflow_import

silence_tensorflow_import()  # Keras's preprocessing layers import TensorFlow when it is installed

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keraslab.augment.image import image_augmenter  # noqa: E402
from keraslab.augment.specs import ImagePipeline  # noqa: E402
from keraslab.data import load  # noqa: E402

STRONG = dict(rotate=0.03, zoom=0.1, contrast=0.1)
SETTINGS = {
    "none": None,
    "default (flip + shift)": ImagePipeline(),
    "+ rotate, zoom, contrast": ImagePipeline(**STRONG),
    "  same, fill constant": ImagePipeline(**STRONG, fill="constant"),
}


def cnn(augmenter, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = augmenter(inputs) if augmenter is not None else inputs
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--only", nargs="*", default=None, help="settings to run (default all)")
    args = p.parse_args()
    (x, y), (xt, yt) = load("fashion_mnist", "float32")
    print(f"backend {keras.backend.backend()}; {args.train} training images, {len(xt)} test; "
          f"{args.epochs} epochs, batch 64, seeds {args.seeds}")  # fmt: skip
    results = {}
    for name, settings in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        accs, secs = [], []
        for seed in args.seeds:
            idx = np.random.default_rng(seed).permutation(len(x))[: args.train]
            augmenter = None if settings is None else image_augmenter(settings, seed)
            model = cnn(augmenter, seed)
            t0 = time.time()
            model.fit(x[idx], y[idx], epochs=args.epochs, batch_size=64, verbose=0)
            secs.append(time.time() - t0)
            accs.append(model.evaluate(xt, yt, batch_size=500, verbose=0)[1])
        results[name] = accs
        base = results.get("none")
        diff = "" if base is None or name == "none" else (
            f"  ({100 * (statistics.mean(accs) - statistics.mean(base)):+.2f} points)"
        )  # fmt: skip
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name:26s} accuracy {100 * statistics.mean(accs):.2f} +- {100 * std:.2f}%"
              f"{diff}  [{', '.join(f'{100 * a:.2f}' for a in accs)}]  "
              f"{statistics.mean(secs):.0f} s/run", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
