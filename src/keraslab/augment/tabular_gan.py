"""A tabular GAN on keraslab's phase engine: new rows of a mixed numeric / categorical table, per
class (a conditional WGAN-GP in the spirit of CTGAN: Xu et al., 2019, "Modeling Tabular Data
using Conditional GAN").

:class:`TabularGAN` maps ``(noise, class)`` to a row of a
:class:`~keraslab.augment.table_encoding.TableTransform` matrix: a linear output per standardised
numeric column and, per categorical column, a Gumbel-softmax of its logits (temperature ``tau``,
as CTGAN), so that the generated one-hot blocks are nearly discrete and the critic cannot tell
fake rows by their soft categories alone. The critic scores ``(row, class)``; the losses are
WGAN-GP's (Gulrajani et al., 2017), with the penalty of :func:`keraslab.models.wgan.gradient_penalty`.
:func:`~keraslab.augment.synthesis.synthesize` trains it on rows drawn with the classes balanced
(CTGAN's "training by sampling") and samples rows of the classes asked for;
``oversample(df, target, method="gan")`` balances a table with it.

Left out from CTGAN: mode-specific normalisation (a Gaussian mixture per numeric column), the
PacGAN critic and the conditional vector over every categorical column (here only the class).

Example:
    >>> new = synthesize(df, target="label", counts={"rare": 200}, method="gan", seed=0)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keraslab.augment.table_encoding import sample_categories
from keraslab.engine import Phase, PhasedModel
from keraslab.engine.gradients import no_grad
from keraslab.models.wgan import gradient_penalty


def _net(sizes, out, name):
    layers = []
    for s in sizes:
        layers += [keras.layers.Dense(s), keras.layers.LeakyReLU(0.2)]
    return keras.Sequential([*layers, keras.layers.Dense(out)], name=name)


@keras.saving.register_keras_serializable(package="keraslab")
class TabularGAN(PhasedModel):
    """A conditional WGAN-GP for rows of a :class:`~keraslab.augment.table_encoding.TableTransform`
    matrix (the class one-hot appended to each row, as :func:`synthesize` builds it).

    Args:
        numeric: list of int. Matrix columns that are standardised numbers.
        categorical: list of (start, width). The one-hot blocks of the categorical columns.
        num_classes: int. Classes the rows are conditioned on (1: unconditional).
        latent_dim: int. Size of the noise vector.
        hidden: tuple of int. Widths of the generator's and the critic's hidden layers.
        n_critic: int. Critic updates per generator update.
        gp_weight: float. Weight of the gradient penalty.
        tau: float. Gumbel-softmax temperature of the categorical outputs.
        seed: optional int. Seed of the model's ``SeedGenerator``.

    Example:
        >>> gan = TabularGAN(t.numeric_index, t.categorical_spans, num_classes=2, seed=0)
        >>> gan.compile()              # Adam(1e-3, beta_1=0.5, beta_2=0.9) for both phases
        >>> gan.fit(BalancedBatches(x, labels, 128), epochs=100)
        >>> rows = gan.sample_rows(np.zeros(50, int))   # 50 rows of class 0
    """

    def __init__(self, numeric, categorical, num_classes=1, latent_dim=32, hidden=(128, 128),
                 n_critic=2, gp_weight=10.0, tau=0.2, seed=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.numeric = [int(i) for i in numeric]
        self.categorical = [(int(s), int(w)) for s, w in categorical]
        self.width = len(self.numeric) + sum(w for _, w in self.categorical)
        self.num_classes, self.latent_dim = int(num_classes), int(latent_dim)
        self.hidden, self.n_critic = tuple(int(h) for h in hidden), int(n_critic)
        self.gp_weight, self.tau, self.seed = float(gp_weight), float(tau), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator = _net(self.hidden, self.width, "generator")
        self.critic = _net(self.hidden, 1, "critic")
        self.generator.build((None, self.latent_dim + self.num_classes))
        self.critic.build((None, self.width + self.num_classes))
        # one permutation puts the numeric columns and the categorical blocks back in place
        order = self.numeric + [s + i for s, w in self.categorical for i in range(w)]
        self._inverse_order = np.argsort(np.asarray(order, int))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "numeric": self.numeric, "categorical": self.categorical,
                "num_classes": self.num_classes, "latent_dim": self.latent_dim,
                "hidden": self.hidden, "n_critic": self.n_critic, "gp_weight": self.gp_weight,
                "tau": self.tau, "seed": self.seed}  # fmt: skip

    def compile(self, optimizers=None, **kwargs):
        """Adam(1e-3, beta_1=0.5, beta_2=0.9) for the critic and the generator unless given."""
        super().compile(
            optimizers=optimizers
            or {
                "critic": keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
                "g": keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
            },
            **kwargs,
        )

    def _gumbel(self, shape):
        u = keras.random.uniform(shape, minval=1e-6, maxval=1.0 - 1e-6, seed=self.seed_generator)
        return -ops.log(-ops.log(u))

    def generate(self, classes, training=False):
        """Matrix rows (numbers, Gumbel-softmax categories) for one-hot ``classes``."""
        n = ops.shape(classes)[0]
        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        out = self.generator(ops.concatenate([z, classes], axis=-1), training=training)
        parts = []
        if self.numeric:
            parts.append(ops.take(out, np.asarray(self.numeric), axis=1))
        for start, width in self.categorical:
            logits = out[:, start : start + width]
            parts.append(ops.softmax((logits + self._gumbel(ops.shape(logits))) / self.tau))
        return ops.take(ops.concatenate(parts, axis=-1), self._inverse_order, axis=1)

    def _score(self, rows, classes, training):
        return self.critic(ops.concatenate([rows, classes], axis=-1), training=training)

    def critic_loss(self, batch):
        x = ops.cast(batch.x, "float32")
        real, classes = x[:, : self.width], x[:, self.width :]
        with no_grad():
            fake = ops.stop_gradient(self.generate(classes, batch.training))
        real_score = ops.mean(self._score(real, classes, batch.training))
        fake_score = ops.mean(self._score(fake, classes, batch.training))
        alpha = keras.random.uniform((ops.shape(x)[0], 1), seed=self.seed_generator)
        gp = gradient_penalty(lambda r: self._score(r, classes, batch.training), real, fake, alpha)
        loss = fake_score - real_score + self.gp_weight * gp
        return loss, {"gp": gp, "w_distance": real_score - fake_score}

    def generator_loss(self, batch):
        classes = ops.cast(batch.x, "float32")[:, self.width :]
        fake = self.generate(classes, batch.training)
        return -ops.mean(self._score(fake, classes, batch.training))

    def phases(self):
        return [
            Phase("critic", self.critic.trainable_variables, self.optimizers["critic"],
                  self.critic_loss, repeats=self.n_critic, metrics=("gp", "w_distance")),
            Phase("g", self.generator.trainable_variables, self.optimizers["g"],
                  self.generator_loss),
        ]  # fmt: skip

    def call(self, x, training=False):
        return self.generate(ops.cast(x, "float32")[:, self.width :], training)

    def sample_rows(self, classes: np.ndarray, seed: int = 0) -> np.ndarray:
        """Matrix rows for the given class indices: numbers as generated, each category drawn
        from the softmax of its logits (one-hot)."""
        rng = np.random.default_rng(seed)
        onehot = np.eye(self.num_classes, dtype="float32")[np.asarray(classes, int)]
        z = rng.normal(size=(len(onehot), self.latent_dim)).astype("float32")
        out = keras.ops.convert_to_numpy(
            self.generator(np.concatenate([z, onehot], axis=1), training=False)
        ).astype("float64")
        rows = np.zeros_like(out)
        rows[:, self.numeric] = out[:, self.numeric]
        sample_categories(rows, out, self.categorical, rng)
        return rows.astype("float32")
