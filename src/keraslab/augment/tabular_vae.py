"""A tabular VAE on keraslab's phase engine: new rows of a mixed numeric / categorical table,
per class (a conditional VAE, in the spirit of TVAE: Xu et al., 2019, "Modeling Tabular Data
using Conditional GAN").

:class:`TabularVAE` encodes ``(row, class)`` of a
:class:`~keraslab.augment.table_encoding.TableTransform` matrix to a Gaussian code and decodes
``(code, class)`` to the row: a Gaussian likelihood with a learned standard deviation per numeric
column, a softmax per categorical column. :func:`~keraslab.augment.synthesis.synthesize` fits it
and samples rows of the classes asked for; ``oversample(df, target, method="vae")`` balances a
table with it.

Example:
    >>> new = synthesize(df, target="label", counts={"rare": 200}, method="vae", seed=0)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keraslab.augment.table_encoding import sample_categories
from keraslab.engine import Phase, PhasedModel
from keraslab.layers.sampling import Sampling
from keraslab.models.vae import gaussian_kl

_LOG_2PI = math.log(2.0 * math.pi)


def _mlp(sizes, name):
    return keras.Sequential([keras.layers.Dense(s, activation="relu") for s in sizes], name=name)


@keras.saving.register_keras_serializable(package="keraslab")
class TabularVAE(PhasedModel):
    """A conditional VAE for rows of a :class:`TableTransform` matrix.

    Args:
        numeric: list of int. Matrix columns that are standardised numbers.
        categorical: list of (start, width). The one-hot blocks of the categorical columns.
        num_classes: int. Classes the rows are conditioned on (1: unconditional).
        latent_dim: int.
        hidden: tuple of int. Widths of the encoder's and decoder's hidden layers.
        beta: float. Weight of the KL term.
        seed: optional int.
    """

    def __init__(self, numeric, categorical, num_classes=1, latent_dim=16, hidden=(128, 128),
                 beta=1.0, seed=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.numeric = [int(i) for i in numeric]
        self.categorical = [(int(s), int(w)) for s, w in categorical]
        self.width = len(self.numeric) + sum(w for _, w in self.categorical)
        self.num_classes, self.latent_dim = int(num_classes), int(latent_dim)
        self.hidden, self.beta, self.seed = tuple(int(h) for h in hidden), float(beta), seed
        self.encoder_body = _mlp(self.hidden, "encoder")
        self.to_mean = keras.layers.Dense(self.latent_dim, name="z_mean")
        self.to_log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")
        self.decoder_body = _mlp(self.hidden[::-1], "decoder")
        self.to_row = keras.layers.Dense(self.width, name="row")
        self.sampling = Sampling(seed=seed, name="sampling")
        self.log_sigma = self.add_weight(
            shape=(max(len(self.numeric), 1),), initializer="zeros", name="log_sigma"
        )
        self.encode(ops.zeros((1, self.width)), ops.zeros((1, self.num_classes)))
        self.decode(ops.zeros((1, self.latent_dim)), ops.zeros((1, self.num_classes)))

    def get_config(self):
        return {**super().get_config(), "numeric": self.numeric, "categorical": self.categorical,
                "num_classes": self.num_classes, "latent_dim": self.latent_dim,
                "hidden": self.hidden, "beta": self.beta, "seed": self.seed}  # fmt: skip

    def compile(self, optimizer=None, optimizers=None, **kwargs):
        """Adam(1e-3) unless given."""
        super().compile(
            optimizers=optimizers or {"vae": optimizer or keras.optimizers.Adam(1e-3)}, **kwargs
        )

    def encode(self, rows, classes, training=False):
        h = self.encoder_body(ops.concatenate([rows, classes], axis=-1), training=training)
        return self.to_mean(h), self.to_log_var(h)

    def decode(self, z, classes, training=False):
        h = self.decoder_body(ops.concatenate([z, classes], axis=-1), training=training)
        return self.to_row(h)

    def call(self, x, training=False):
        rows, classes = x[:, : self.width], x[:, self.width :]
        mean, log_var = self.encode(rows, classes, training)
        return self.decode(self.sampling([mean, log_var]), classes, training)

    def nll(self, rows, out):
        """-log p(row | z) per row: Gaussian numbers (learned sigma), softmax categories."""
        total = ops.zeros(ops.shape(rows)[:1])
        if self.numeric:
            idx = np.asarray(self.numeric)
            x, mu = ops.take(rows, idx, axis=1), ops.take(out, idx, axis=1)
            log_sigma = self.log_sigma[: len(self.numeric)]
            per = 0.5 * ops.square((x - mu) / ops.exp(log_sigma)) + log_sigma + 0.5 * _LOG_2PI
            total = total + ops.sum(per, axis=-1)
        for start, width in self.categorical:
            logits = out[:, start : start + width]
            target = rows[:, start : start + width]
            total = total - ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)
        return total

    def vae_loss(self, batch):
        x = ops.cast(batch.x, "float32")
        rows, classes = x[:, : self.width], x[:, self.width :]
        mean, log_var = self.encode(rows, classes, batch.training)
        out = self.decode(self.sampling([mean, log_var]), classes, batch.training)
        recon = ops.mean(self.nll(rows, out))
        kl = ops.mean(gaussian_kl(mean, log_var))
        return recon + self.beta * kl, {"reconstruction": recon, "kl": kl}

    def phases(self):
        return [Phase("vae", self.trainable_variables, self.optimizers["vae"], self.vae_loss,
                      metrics=("reconstruction", "kl"))]  # fmt: skip

    def sample_rows(self, classes: np.ndarray, seed: int = 0) -> np.ndarray:
        """Matrix rows for the given class indices: z from the prior, numbers with their learned
        noise, categories drawn from their softmax."""
        rng = np.random.default_rng(seed)
        onehot = np.eye(self.num_classes, dtype="float32")[np.asarray(classes, int)]
        z = rng.normal(size=(len(onehot), self.latent_dim)).astype("float32")
        out = keras.ops.convert_to_numpy(self.decode(z, onehot)).astype("float64")
        rows = np.zeros_like(out)
        if self.numeric:
            sigma = np.exp(keras.ops.convert_to_numpy(self.log_sigma)[: len(self.numeric)])
            rows[:, self.numeric] = out[:, self.numeric] + sigma * rng.normal(
                size=(len(out), len(self.numeric))
            )
        sample_categories(rows, out, self.categorical, rng)
        return rows.astype("float32")
