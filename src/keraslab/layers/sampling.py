"""Noise as layers: the reparameterisation trick (Kingma & Welling, 2014) and embedding-space
noise for augmentation."""

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


@keras.saving.register_keras_serializable(package="keraslab")
class EmbeddingNoise(keras.layers.Layer):
    """Embedding-space augmentation: in training, add Gaussian noise to each vector, scaled by
    that vector's root-mean-square, ``x + stddev * rms(x) * eps``; identity otherwise.

    Scaled per vector, one ``stddev`` means the same relative perturbation whatever the
    embeddings' size (raw embedding tables, normalised ones, sentence vectors). A stand-in for
    the word-level edits of EDA that works on any model that takes embeddings (Zhang & Yang,
    2018, "Adversarial and noisy perturbations of embeddings"; the noise half of the idea).

    Args:
        stddev: float. Noise size relative to each vector's RMS (0.1: a tenth).
        seed: optional int. Seed of the layer's ``SeedGenerator``.

    Example:
        >>> x = EmbeddingNoise(0.1)(token_embedding(ids), training=True)
    """

    def __init__(self, stddev: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not stddev >= 0:
            raise ValueError(f"stddev must be >= 0, got {stddev}.")
        self.stddev, self.seed = float(stddev), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.stddev == 0:
            return x
        rms = ops.sqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + 1e-12)
        eps = keras.random.normal(ops.shape(x), dtype=x.dtype, seed=self.seed_generator)
        return x + self.stddev * ops.stop_gradient(rms) * eps

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
