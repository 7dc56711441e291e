"""Reusable models (each usable in your own ``fit()`` on any backend)."""

from keraslab.models.gan import DCGAN, build_discriminator, build_generator

__all__ = ["DCGAN", "build_discriminator", "build_generator"]
