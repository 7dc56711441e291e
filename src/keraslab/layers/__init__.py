"""Reusable Keras layers (backend-agnostic; only keras and keras.ops)."""

from keraslab.layers.conv import Conv2DTranspose

__all__ = ["Conv2DTranspose"]
