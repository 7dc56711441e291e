"""The reparameterisation trick as a layer (Kingma & Welling, 2014)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keraslab")
class Sampling(keras.layers.Layer):
    """Draw ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``.

    The noise comes from the layer's own ``SeedGenerator``, so the draw is differentiable with
    respect to ``mean`` and ``log_var``, differs from step to step inside jitted JAX code, and its
    state is saved in keraslab checkpoints (not in ``.keras`` files: Keras writes no
    seed-generator state there, so a loaded model's draws restart from the seed).

    Args:
        seed: optional int. Seed of the layer's ``SeedGenerator``.

    Example:
        >>> z = Sampling(seed=0)([z_mean, z_log_var])

    Reference: D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes", ICLR 2014.
    https://arxiv.org/abs/1312.6114
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_var = inputs
        eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
