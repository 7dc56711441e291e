"""Reusable Keras layers (backend-agnostic; only keras and keras.ops)."""

from keraslab.layers.conv import Conv2DTranspose
from keraslab.layers.sampling import Sampling

__all__ = ["Conv2DTranspose", "Sampling"]
