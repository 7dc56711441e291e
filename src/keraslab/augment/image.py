"""Image augmentation with Keras's preprocessing layers, on every backend.

:func:`image_augmenter` builds a ``keras.layers.Pipeline`` from an :class:`ImagePipeline`
(flip, translation, rotation, zoom, contrast, brightness). Put it inside a model (it acts only
when ``training=True``, so evaluation and prediction see the real images) or call it on batches
in a data pipeline; :func:`augment_images` does the latter for numpy arrays, seeded.
:func:`augment_folder` is ``keraslab augment images``.

Example:
    >>> aug = image_augmenter(ImagePipeline(rotate=0.05), seed=0)
    >>> inputs = keras.Input((28, 28, 1))
    >>> x = aug(inputs)                     # random in training, the identity otherwise
    >>> x = keras.layers.Conv2D(32, 3, activation="relu")(x)
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from keraslab.augment.specs import ImagePipeline
from keraslab.data.batches import ArrayBatches
from keraslab.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

__all__ = [
    "IMAGE_SUFFIXES",
    "AugmentedBatches",
    "ImagePipeline",
    "augment_folder",
    "augment_images",
    "image_augmenter",
]


def image_augmenter(settings: ImagePipeline | None = None, seed: int = 0) -> keras.layers.Layer:
    """A ``keras.layers.Pipeline`` of the layers ``settings`` asks for (default
    :class:`ImagePipeline`), for images in [0, 1], channels last; each layer seeded from
    ``seed``. No layers: ``keras.layers.Identity``."""
    s = settings or ImagePipeline()
    s.validate()
    L = keras.layers
    layers = []
    if s.flip != "none":
        mode = {"both": "horizontal_and_vertical"}.get(s.flip, s.flip)
        layers.append(L.RandomFlip(mode, seed=seed))
    if s.translate:
        layers.append(
            L.RandomTranslation(s.translate, s.translate, fill_mode=s.fill, seed=seed + 1)
        )
    if s.rotate:
        layers.append(L.RandomRotation(s.rotate, fill_mode=s.fill, seed=seed + 2))
    if s.zoom:
        layers.append(L.RandomZoom(s.zoom, s.zoom, fill_mode=s.fill, seed=seed + 3))
    if s.contrast:
        layers.append(L.RandomContrast(s.contrast, value_range=(0, 1), seed=seed + 4))
    if s.brightness:
        layers.append(L.RandomBrightness(s.brightness, value_range=(0, 1), seed=seed + 5))
    if not layers:  # keras.layers.Pipeline cannot be empty
        return L.Identity(name="image_augmenter")
    return L.Pipeline(layers, name="image_augmenter")


def augment_images(
    images: np.ndarray,
    n: int = 1,
    settings: ImagePipeline | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """``n`` augmented copies of each image: an array ``(n * len(images), h, w, c)`` float32 in
    [0, 1], copy ``k`` of image ``i`` at row ``k * len(images) + i``. The same ``seed`` gives the
    same output."""
    x = np.asarray(images, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must be (n, h, w, c) or (n, h, w), got shape {x.shape}.")
    augmenter = image_augmenter(settings, seed)
    out = []
    for _ in range(n):
        for start in range(0, len(x), batch_size):
            batch = augmenter(x[start : start + batch_size], training=True)
            out.append(np.clip(keras.ops.convert_to_numpy(batch), 0.0, 1.0))
    return np.concatenate(out).astype("float32") if out else x[:0]


class AugmentedBatches(ArrayBatches):
    """Training batches of ``(augmented x, y)`` for ``model.fit``: a fresh augmentation of every
    batch, in the data pipeline (for models that should not carry the augmenter, e.g. a
    pretrained network whose weights are saved and loaded on their own).

    Args:
        x: images (n, h, w, c) with values in [0, ``scale``].
        y: labels (n, ...).
        batch_size: int.
        settings: optional :class:`ImagePipeline`.
        seed: int. Seeds the batch order and the augmenter.
        scale: float. 255 for uint8-range images (the pipeline works in [0, 1]).
        transform: optional callable applied to each augmented batch (e.g. a network's
            preprocessing), in the input's range.

    Example:
        >>> model.fit(AugmentedBatches(x, y, 32, ImagePipeline(), seed=0), epochs=5)
    """

    def __init__(self, x, y, batch_size, settings=None, seed=0, scale=1.0, transform=None):
        super().__init__(x, y, batch_size, seed)
        self.augmenter = image_augmenter(settings, seed)
        self.scale, self.transform = float(scale), transform

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        batch = np.asarray(x, dtype="float32") / self.scale
        batch = keras.ops.convert_to_numpy(self.augmenter(batch, training=True))
        batch = np.clip(batch, 0.0, 1.0) * self.scale
        return (self.transform(batch) if self.transform else batch), y


def _image_files(folder: Path) -> list[Path]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise UserError(
            f"{others[0]} is not an image ({len(others)} such files in {folder}): keep only "
            f"{', '.join(IMAGE_SUFFIXES)} files there."
        )
    if not files:
        raise UserError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return files


def _read(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            gray = img.mode in ("1", "L", "I;16", "I", "F")
            pixels = np.asarray(img.convert("L" if gray else "RGB"), dtype="float32")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"{path} cannot be read as an image ({type(e).__name__}).") from None
    return pixels[..., None] if gray else pixels


def augment_folder(
    folder,
    out,
    n: int = 5,
    settings: ImagePipeline | None = None,
    seed: int = 0,
    preview: str | None = None,
    echo=print,
) -> list[Path]:
    """Write ``n`` augmented PNG copies of every image under ``folder`` to ``out`` (the same
    subfolders; ``name-aug1.png`` ...), and optionally a ``preview`` grid. Nothing is written
    when an input is not an image or an output exists; returns the files written."""
    from PIL import Image

    from keraslab.io import atomic_path, save_image_grid

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of images.")
    files = _image_files(folder)
    images = [_read(p) / 255.0 for p in files]  # every input is read before anything is written
    targets = [
        [out / p.relative_to(folder).parent / f"{p.stem}-aug{k + 1}.png" for k in range(n)]
        for p in files
    ]
    existing = [t for ts in targets for t in ts if t.exists()]
    if preview:
        existing += [Path(preview)] if Path(preview).exists() else []
    if existing:
        raise UserError(f"{existing[0]} exists: choose another --out (nothing was written).")
    written, rows = [], []
    for i, (image, paths) in enumerate(zip(images, targets)):
        copies = augment_images(image[None], n, settings, seed + i)
        for copy, path in zip(copies, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.rint(copy * 255).astype("uint8")
            with atomic_path(path, suffix=".png") as tmp:
                Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
                    tmp, format="PNG"
                )
            written.append(path)
        if preview and len(rows) < 8:
            rows.append((image, copies))
        if (i + 1) % 100 == 0 or i + 1 == len(files):
            echo(f"augmented {i + 1}/{len(files)} images ({len(written)} written)")
    if preview:
        _save_preview(rows, Path(preview), save_image_grid)
        written.append(Path(preview))
    return written


def _save_preview(rows, path: Path, save_image_grid) -> None:
    """Originals in the first column, their copies beside (images of one size per grid: the
    first image's size; others are resized to it)."""
    from PIL import Image

    h, w, c = rows[0][0].shape
    cells = []
    for image, copies in rows:
        for cell in [image, *copies]:
            if cell.shape != (h, w, c):
                pil = Image.fromarray(np.rint(cell * 255).astype("uint8").squeeze())
                cell = np.asarray(pil.convert("L" if c == 1 else "RGB").resize((w, h))) / 255.0
                cell = cell.reshape(h, w, c)
            cells.append(cell)
    save_image_grid(np.asarray(cells, "float32"), path, ncols=1 + len(rows[0][1]), scale=2)
