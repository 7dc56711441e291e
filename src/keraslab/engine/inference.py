"""Compiled inference functions: one jitted program per input shape on JAX, a ``tf.function``
graph on TensorFlow, eager on PyTorch.

Step-by-step decoding calls the same small function ~100 times per sentence. Eager JAX dispatches
every op separately (and is far slower than eager PyTorch on CPU), so on JAX the function is
compiled with ``jax.jit``, the model's variables passed in as arguments through a
``keras.StatelessScope`` (not baked in as constants, so a later ``load_weights`` is seen). On
TensorFlow it becomes a ``tf.function`` (variables are read by reference, so the same holds);
its arguments are converted to tensors first, so a new position value does not retrace it. On
PyTorch the function runs eagerly.
"""

from __future__ import annotations

from collections.abc import Callable

import keras


def compile_inference(layer: keras.layers.Layer, fn: Callable) -> Callable:
    """``fn(*arrays) -> arrays``, reading ``layer``'s variables, compiled for inference.

    ``fn`` must not update variables, and every Python value that changes between calls (e.g. a
    decoding position) must be passed as an array, or JAX compiles it again for each value.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        graph = tf.function(fn, reduce_retracing=True)

        def call_tf(*args):
            return graph(*tf.nest.map_structure(tf.convert_to_tensor, args))

        return call_tf
    if backend != "jax":
        return fn
    import jax

    variables = list(layer.variables)

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*args)

    jitted = jax.jit(pure)

    def call(*args):
        return jitted([v.value for v in variables], *args)

    return call


def compiled_method(layer: keras.layers.Layer, name: str) -> Callable:
    """``layer.<name>`` through :func:`compile_inference`, compiled once per layer and kept on
    it (outside Keras's attribute tracking): the one cache of keraslab's compiled inference
    functions (GPT's generation steps, the translator's decoding steps)."""
    cache = layer.__dict__.get("_compiled_methods")
    if cache is None:
        cache = {}
        object.__setattr__(layer, "_compiled_methods", cache)
    if name not in cache:
        cache[name] = compile_inference(layer, getattr(layer, name))
    return cache[name]
