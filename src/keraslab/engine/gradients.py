"""Gradients inside a loss (e.g. the WGAN-GP penalty) and no-grad regions, per backend."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import keras


def grad(fn: Callable, x):
    """Gradient of ``sum(fn(x))`` with respect to ``x``, itself differentiable.

    Use it inside a phase loss, e.g. the gradient penalty of WGAN-GP
    ``ops.sqrt(ops.sum(ops.square(grad(critic, x_hat)), axis=[1, 2, 3]))``: the outer train step
    can differentiate through it (jax.grad nested in value_and_grad; a nested GradientTape;
    ``torch.autograd.grad(create_graph=True)``).

    Args:
        fn: callable. Maps a tensor to a tensor (summed to a scalar before differentiating).
        x: tensor. The point at which to differentiate.

    Returns:
        A tensor shaped like ``x``.

    Example:
        >>> g = grad(lambda t: ops.sum(t ** 3), ops.ones((2, 2)))   # 3 * t**2
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return jax.grad(lambda t: jnp.sum(fn(t)))(keras.ops.convert_to_tensor(x))
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(fn(x))
        return tape.gradient(y, x)
    if backend == "torch":
        import torch

        x = keras.ops.convert_to_tensor(x)
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            y = torch.sum(fn(x))
            (g,) = torch.autograd.grad(y, x, create_graph=True)
        return g
    raise NotImplementedError(f"engine.grad does not support backend {backend!r}.")


def no_grad():
    """Context manager for forward passes whose gradients no phase needs.

    On PyTorch it avoids recording the graph (``torch.no_grad``); on JAX and TensorFlow nothing is
    recorded outside a differentiated function or tape anyway, so it is a no-op there. Still wrap
    the result in ``keras.ops.stop_gradient`` where the value feeds a differentiated loss.
    """
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()
