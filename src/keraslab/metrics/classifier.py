"""A small domain classifier whose penultimate layer serves as a fast FID feature extractor.

The standard FID uses InceptionV3 features, which are slow on CPU and meant for natural
images. For MNIST-like data keraslab also ships a small CNN trained on the real training
split (see :mod:`keraslab.metrics.train_classifier`); its 128-d ``"features"`` layer gives a
"domain FID" that is fast to compute and sensitive to what matters for digits or clothing.
Numbers from it are only comparable with numbers from the same classifier, hence the
:attr:`ClassifierFeatures.name` label ("classifier-mnist").

Input convention: the model takes ``float32`` images in ``[0, 1]``, shaped ``(N, H, W, C)``.
:class:`ClassifierFeatures` also accepts ``uint8`` images (0..255) and converts them.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FEATURES_LAYER = "features"


def build_classifier(
    image_shape: tuple[int, int, int] = (28, 28, 1),
    classes: int = 10,
    feature_dim: int = 128,
    dropout: float = 0.3,
) -> keras.Model:
    """Build the small CNN used for domain features (Keras Functional API).

    Three blocks of 3x3 Conv (16, 32, 64 filters, relu) + 2x2 MaxPool (28 -> 14 -> 7 -> 3),
    Flatten, Dense(``feature_dim``, relu, name "features"), Dropout, Dense(``classes``).
    About 0.16 M parameters and 2 M multiply-adds per 28x28 image: fast on CPU.

    Args:
        image_shape: tuple. ``(H, W, C)`` of the input images, channels last.
        classes: int. Number of classes; the last layer outputs their logits.
        feature_dim: int. Width of the penultimate ``"features"`` layer.
        dropout: float. Dropout rate after the features layer (training only).

    Returns:
        An uncompiled ``keras.Model`` mapping float32 images in ``[0, 1]`` to logits
        ``(N, classes)``. It has no softmax: train with ``from_logits=True``.

    Example:
        >>> model = build_classifier((28, 28, 1), classes=10)
        >>> model.output_shape
        (None, 10)
    """
    layers = keras.layers
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    x = inputs
    for i, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if min(x.shape[1], x.shape[2]) >= 2:  # 28 -> 14 -> 7 -> 3 ("valid": no padding)
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(feature_dim, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="keraslab_classifier")


def weights_paths(dataset: str, weights_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Paths of the ``.weights.h5`` file and its JSON metadata for ``dataset``.

    Args:
        dataset: str. Dataset name, e.g. "mnist" or "fashion_mnist" ("-" is read as "_").
        weights_dir: str or Path, optional. Folder holding the files; default: the package's
            ``keraslab/metrics/weights``.

    Returns:
        ``(weights_path, json_path)``; they need not exist.
    """
    key = dataset.replace("-", "_").lower()
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    return folder / f"{key}_classifier.weights.h5", folder / f"{key}_classifier.json"


def available_classifiers(weights_dir: str | Path | None = None) -> list[str]:
    """Datasets for which a trained classifier (weights and JSON) is present.

    Args:
        weights_dir: str or Path, optional. Folder to look in; default: the package's.

    Returns:
        Sorted list of dataset names, e.g. ``["fashion_mnist", "mnist"]``.
    """
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    suffix = "_classifier.weights.h5"
    names = []
    for path in folder.glob(f"*{suffix}") if folder.is_dir() else []:
        name = path.name[: -len(suffix)]
        if weights_paths(name, folder)[1].is_file():
            names.append(name)
    return sorted(names)


class ClassifierFeatures:
    """Penultimate-layer features of keraslab's shipped domain classifier.

    Loads ``weights/<dataset>_classifier.weights.h5`` and its JSON metadata, and maps
    images to the 128-d activations of the ``"features"`` layer, for a fast domain FID.
    Works on any Keras backend (the weights are backend independent).

    Args:
        dataset: str. Which classifier: "mnist" or "fashion_mnist" (see
            :func:`available_classifiers`).
        weights_dir: str or Path, optional. Folder with the weights and JSON; default: the
            package's ``keraslab/metrics/weights`` (e.g. pass the ``--out`` folder of
            ``python -m keraslab.metrics.train_classifier``).

    Attributes:
        name: str. Label for numbers computed with these features, e.g. "classifier-mnist".
        dataset: str. The dataset key.
        accuracy: float. Test accuracy recorded when the classifier was trained.
        metadata: dict. The whole JSON record (epochs, date, backend, keras version, command).
        image_shape: tuple. ``(H, W, C)`` the classifier expects.
        feature_dim: int. Number of features per image.
        model: keras.Model. The full classifier (images -> logits).

    Raises:
        ValueError: the dataset is unknown or its weights are missing.

    Example:
        >>> from keraslab.data import load
        >>> (x, _), _ = load("mnist", "uint8")
        >>> feats = ClassifierFeatures("mnist")
        >>> feats(x[:100]).shape
        (100, 128)
    """

    def __init__(self, dataset: str = "mnist", weights_dir: str | Path | None = None):
        weights_path, json_path = weights_paths(dataset, weights_dir)
        if not (weights_path.is_file() and json_path.is_file()):
            available = ", ".join(available_classifiers(weights_dir)) or "none"
            raise ValueError(
                f"no trained classifier for dataset {dataset!r} in {weights_path.parent}: "
                f"available: {available} (train one with `python -m "
                f"keraslab.metrics.train_classifier --dataset NAME`)."
            )
        self.metadata = json.loads(json_path.read_text())
        self.dataset = weights_path.name[: -len("_classifier.weights.h5")]
        self.name = f"classifier-{self.dataset}"
        self.accuracy = float(self.metadata["test_accuracy"])
        self.image_shape = tuple(int(s) for s in self.metadata["image_shape"])
        self.feature_dim = int(self.metadata["feature_dim"])
        self.model = build_classifier(
            self.image_shape, int(self.metadata["classes"]), self.feature_dim
        )
        self.model.load_weights(str(weights_path))
        # One pass gives both the features and the logits.
        self._both = keras.Model(
            self.model.input,
            [self.model.get_layer(FEATURES_LAYER).output, self.model.output],
            name=f"{self.name}_features",
        )

    def __repr__(self) -> str:
        return (
            f"ClassifierFeatures(dataset={self.dataset!r}, feature_dim={self.feature_dim}, "
            f"accuracy={self.accuracy:.4f})"
        )

    def _prepare(self, images) -> np.ndarray:
        x = np.asarray(images)
        if x.ndim == len(self.image_shape) and self.image_shape[-1] == 1:
            x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{self.name} expects images shaped (N, {', '.join(map(str, self.image_shape))}), "
                f"got {x.shape}."
            )
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255.0)
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"images must be uint8 (0..255) or float in [0, 1], got {x.dtype}.")
        x = x.astype(np.float32)
        if x.size and (float(x.min()) < -0.5 or float(x.max()) > 1.5):
            raise ValueError(
                f"float images must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}] "
                "(rescale [-1, 1] with (x + 1) / 2, or pass 0..255 as uint8)."
            )
        return np.clip(x, 0.0, 1.0)

    def _run(self, images, batch_size: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
        x = self._prepare(images)
        n = len(x)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        batch_size = min(batch_size, max(n, 1))
        feats = np.empty((n, self.feature_dim), dtype=np.float64)
        logits = np.empty((n, self._both.output[1].shape[-1]), dtype=np.float64)
        starts = range(0, n, batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=self.name, unit="batch")
        for start in starts:
            batch = x[start : start + batch_size]
            m = len(batch)
            if m < batch_size:  # pad so every call has the same shape (no retracing)
                pad = np.zeros((batch_size - m, *self.image_shape), dtype=np.float32)
                batch = np.concatenate([batch, pad])
            f, lg = self._both.predict_on_batch(batch)
            feats[start : start + m] = keras.ops.convert_to_numpy(f)[:m]
            logits[start : start + m] = keras.ops.convert_to_numpy(lg)[:m]
        return feats, logits

    def __call__(self, images, batch_size: int = 500, progress: bool = False) -> np.ndarray:
        """Features of the ``"features"`` layer for a batch of images.

        Args:
            images: array ``(N, H, W, C)`` (or ``(N, H, W)`` for one channel); ``uint8`` in
                0..255, or float in ``[0, 1]`` (values slightly outside are clipped; clearly
                out-of-range floats raise ``ValueError``).
            batch_size: int. Images per forward pass.
            progress: bool. Show a tqdm progress bar.

        Returns:
            ``np.ndarray`` of shape ``(N, feature_dim)``, float64.

        Example:
            >>> feats = ClassifierFeatures("mnist")
            >>> feats(np.zeros((3, 28, 28, 1), np.uint8)).shape
            (3, 128)
        """
        return self._run(images, batch_size, progress)[0]

    def features_and_logits(
        self, images, batch_size: int = 500, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(features, logits)`` from one pass (see :meth:`__call__` and :meth:`logits`)."""
        return self._run(images, batch_size, progress)

    def logits(self, images, batch_size: int = 500, progress: bool = False) -> np.ndarray:
        """Class logits ``(N, classes)`` (float64) for the same inputs as :meth:`__call__`.

        Args:
            images: array. As for :meth:`__call__`.
            batch_size: int. Images per forward pass.
            progress: bool. Show a tqdm progress bar.

        Returns:
            ``np.ndarray`` of shape ``(N, classes)``; ``argmax(-1)`` is the predicted class.
        """
        return self._run(images, batch_size, progress)[1]
