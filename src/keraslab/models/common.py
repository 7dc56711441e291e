"""Small helpers shared by keraslab's image models."""

from __future__ import annotations

import numpy as np
from keras import ops


def check_images(x, image_shape) -> np.ndarray:
    """``x`` as float32 numpy, or ValueError (one line) unless it is a batch of ``image_shape``."""
    x = np.asarray(x)
    shape = tuple(x.shape[1:]) if x.ndim == 4 else tuple(x.shape)
    if x.ndim != 4 or shape != tuple(image_shape):
        what = "images of shape" if x.ndim == 4 else f"a {x.ndim}-D array of shape"
        raise ValueError(
            f"{what} {shape} do not fit this model, which was built for "
            f"{tuple(image_shape)} images (height, width, channels)."
        )
    return x.astype("float32")


def to_numpy(t) -> np.ndarray:
    """A tensor as numpy, floats as float32 (a bfloat16 network's outputs too)."""
    a = ops.convert_to_numpy(t)
    return a.astype("float32") if a.dtype.name == "bfloat16" else a


def batched(fn, x, batch_size: int = 256):
    """Apply ``fn`` to ``x`` in batches and concatenate the numpy results (tuples kept; floats
    as float32)."""
    outs = []
    for i in range(0, len(x), batch_size):
        out = fn(x[i : i + batch_size])
        outs.append(
            tuple(to_numpy(o) for o in out) if isinstance(out, (tuple, list)) else to_numpy(out)
        )
    if outs and isinstance(outs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outs))
    return np.concatenate(outs)
