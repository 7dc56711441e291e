"""Noise for denoising autoencoders, added in the data pipeline (fresh noise every batch)."""

from __future__ import annotations

import numpy as np

from keraslab.data.batches import ArrayBatches

NOISES = ("none", "gaussian", "masking")


def add_noise(x: np.ndarray, kind: str, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Corrupt images ``x`` (values in [0, 1]).

    Args:
        x: array of images.
        kind: str. "none"; "gaussian" (add N(0, amount^2), clip to [0, 1]); "masking" (set a
            random fraction ``amount`` of the pixels to 0).
        amount: float. Noise standard deviation, or fraction of masked pixels (in [0, 1)).
        rng: numpy Generator.
    """
    x = np.asarray(x, dtype="float32")
    if kind == "none":
        return x
    if kind == "gaussian":
        if amount < 0:
            raise ValueError(f"gaussian noise needs amount >= 0, got {amount}.")
        return np.clip(x + rng.normal(0.0, amount, x.shape).astype("float32"), 0.0, 1.0)
    if kind == "masking":
        if not 0.0 <= amount < 1.0:
            raise ValueError(f"masking noise needs amount in [0, 1), got {amount}.")
        return x * (rng.random(x.shape) >= amount).astype("float32")
    raise ValueError(f"noise must be one of {NOISES}, got {kind!r}.")


class NoisyImages(ArrayBatches):
    """Batches of ``(noisy x, clean x)``, reshuffled and re-noised every epoch, for
    ``model.fit`` on any backend. Batch ``i`` of epoch ``e`` (its images and its noise) is drawn
    from ``(seed, e, i)``: a resumed run (:meth:`start_at`) sees what an uninterrupted one would.

    Args:
        x: images (n, h, w, c) in [0, 1].
        batch_size: int.
        kind: str. See :func:`add_noise`.
        amount: float. See :func:`add_noise`.
        seed: int. Seeds the shuffling and the noise.

    Example:
        >>> ae.fit(NoisyImages(x_train, 128, "gaussian", 0.3), epochs=5)
    """

    def __init__(self, x, batch_size: int, kind: str, amount: float, seed: int = 0):
        add_noise(np.zeros((1, 1), "float32"), kind, amount, np.random.default_rng(0))  # check
        super().__init__(np.asarray(x, dtype="float32"), None, batch_size, seed)
        self.kind, self.amount = kind, float(amount)

    def __getitem__(self, i):
        clean = super().__getitem__(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return add_noise(clean, self.kind, self.amount, rng), clean
