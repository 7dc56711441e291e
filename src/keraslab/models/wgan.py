"""WGAN-GP: a Wasserstein critic with a gradient penalty, trained n critic steps per generator
step (Gulrajani et al., 2017), on any Keras backend.

The penalty needs the gradient of the critic with respect to its *input* inside the loss, and the
train step must then differentiate through that gradient. ``keraslab.engine.grad`` does this on
JAX, TensorFlow and PyTorch alike (the published Keras example uses ``tf.GradientTape`` and runs
on TensorFlow only).

Reference: I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville. "Improved Training of
Wasserstein GANs", NeurIPS 2017. https://arxiv.org/abs/1704.00028
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keraslab.engine import Phase, along_batch, grad, no_grad
from keraslab.models.gan import (
    ImageGAN,
    _image_input,
    build_bn_generator,
    build_generator,
    check_arch,
)


def build_critic(
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (64, 128),
    kernel_size: int = 4,
    num_classes: int | None = None,
    name: str = "critic",
) -> keras.Model:
    """A WGAN critic: image -> one unbounded score (no sigmoid, no batch norm).

    Conv2D(w, s2) + LeakyReLU(0.2) for each entry of ``widths`` -> Flatten -> Dense(1). Batch
    normalisation is left out on purpose: the gradient penalty is defined per example, and batch
    statistics would couple the examples (Gulrajani et al., section 4).

    Args:
        image_shape: tuple of int. (height, width, channels).
        widths: ints. Filters of the stride-2 convolutions.
        kernel_size: int. Kernel of the convolutions.
        num_classes: optional int. Class-conditional critic (labels embedded as an extra channel).
        name: str. Model name.

    Example:
        >>> critic = build_critic((28, 28, 1))
        >>> critic(keras.ops.zeros((2, 28, 28, 1))).shape
        (2, 1)
    """
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    inputs, x = _image_input(shape, num_classes)
    for i, filters in enumerate(widths):
        x = keras.layers.Conv2D(
            filters, kernel_size, strides=2, padding="same", name=f"conv{i + 1}"
        )(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, name="score")(x)
    return keras.Model(inputs, out, name=name)


def gradient_penalty(critic_fn, real, fake, alpha):
    """The WGAN-GP penalty ``mean((||grad critic(x_hat)||_2 - 1)^2)`` on interpolates.

    Args:
        critic_fn: callable. images -> scores (n, 1).
        real: tensor (n, h, w, c).
        fake: tensor (n, h, w, c).
        alpha: tensor (n, 1, 1, 1). Interpolation weights in [0, 1].

    Returns:
        A scalar tensor, differentiable with respect to the critic's weights.
    """
    x_hat = alpha * real + (1.0 - alpha) * fake
    g = grad(critic_fn, x_hat)
    axes = list(range(1, len(g.shape)))
    norm = ops.sqrt(ops.sum(ops.square(g), axis=axes) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))


@keras.saving.register_keras_serializable(package="keraslab")
class WGANGP(ImageGAN):
    """WGAN-GP: ``n_critic`` critic updates, then one generator update, on every batch.

    Critic loss ``mean(D(fake)) - mean(D(real)) + gp_weight * GP`` (logged as ``critic_loss``,
    with ``gp`` and the Wasserstein estimate ``w_distance = mean(D(real)) - mean(D(fake))``);
    generator loss ``-mean(D(fake))``. Each critic repeat draws fresh latents and interpolation
    weights and reuses the batch of real images (as the paper's Algorithm 1 with one batch).

    Args:
        image_shape: tuple of int. (height, width, channels), images in [0, 1].
        latent_dim: int. Size of the latent vector.
        generator: optional ``keras.Model``. Defaults to the ``arch`` preset's.
        arch: str. ``"lecture"`` (the class's default; ``keraslab train wgan-gp`` uses
            ``"dcgan"``): the course's WGAN-GP generator, :func:`~keraslab.models.build_generator`
            with 7x7x128 -> widths (64, 32, 32) (about 64 M multiply-adds per image, a third of
            the DCGAN "lecture" generator of ``keraslab.presets``, because WGAN-GP runs it 6
            times per batch); ``"dcgan"``: the BatchNorm generator of
            :func:`~keraslab.models.gan.build_bn_generator`. The critic is
            :func:`build_critic` for both (no batch norm: the penalty is per example).
        critic: optional ``keras.Model`` returning one score. Defaults to :func:`build_critic`.
        n_critic: int. Critic updates per generator update (5 in the paper).
        gp_weight: float. Weight of the gradient penalty (10 in the paper).
        num_classes: optional int. Class-conditional (labels into both networks).
        seed: optional int. Seed of the model's ``SeedGenerator``.

    Example:
        >>> wgan = WGANGP(image_shape=(28, 28, 1), latent_dim=64)
        >>> wgan.compile()          # Adam(2e-4, beta_1=0.5, beta_2=0.9) for both phases
        >>> wgan.fit(x_train, batch_size=64, epochs=10)
        >>> images = wgan.sample(16)
    """

    sub_models = ("generator", "critic")

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 64,
        generator: keras.Model | None = None,
        critic: keras.Model | None = None,
        n_critic: int = 5,
        gp_weight: float = 10.0,
        num_classes: int | None = None,
        seed: int | None = None,
        arch: str = "lecture",
        **kwargs,
    ):
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}.")
        super().__init__(image_shape, latent_dim, num_classes, seed, **kwargs)
        self.arch = check_arch(arch)
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        if generator is None and arch == "dcgan":
            generator = build_bn_generator(latent_dim, self.image_shape, num_classes=num_classes)
        self.generator = generator or build_generator(
            latent_dim,
            self.image_shape,
            base_channels=128,
            widths=(64, 32, 32),
            num_classes=num_classes,
        )
        self.critic = critic or build_critic(self.image_shape, num_classes=num_classes)
        self._check_generator()
        self.built = True

    def compile(self, critic_optimizer=None, g_optimizer=None, optimizers=None, **kwargs):
        """Adam(2e-4, beta_1=0.5, beta_2=0.9) for both phases unless given."""
        optimizers = optimizers or {
            "critic": critic_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9),
            "g": g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9),
        }
        super().compile(optimizers=optimizers, **kwargs)

    def phases(self):
        return [
            Phase(
                "critic",
                self.critic.trainable_variables,
                self.optimizers["critic"],
                self.critic_loss,
                repeats=self.n_critic,
                metrics=("gp", "w_distance"),
            ),
            Phase(
                "g", self.generator.trainable_variables, self.optimizers["g"], self.generator_loss
            ),
        ]

    def critic_loss(self, batch):
        real = ops.cast(batch.x, "float32")
        labels = self._labels(batch)
        n = ops.shape(real)[0]
        training = batch.training
        with no_grad():
            fake = ops.stop_gradient(self._generate(self._latents(n), labels, training=training))
        real_score = ops.mean(self._critic(self.critic, real, labels, training))
        fake_score = ops.mean(self._critic(self.critic, fake, labels, training))
        alpha = along_batch(keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator))
        gp = gradient_penalty(
            lambda x: self._critic(self.critic, x, labels, training), real, fake, alpha
        )
        loss = fake_score - real_score + self.gp_weight * gp
        return loss, {"gp": gp, "w_distance": real_score - fake_score}

    def generator_loss(self, batch):
        labels = self._labels(batch)
        n = ops.shape(batch.x)[0]
        fake = self._generate(self._latents(n), labels, training=batch.training)
        return -ops.mean(self._critic(self.critic, fake, labels, batch.training))

    def get_config(self):
        return {
            **self._common_config(),
            "n_critic": self.n_critic,
            "gp_weight": self.gp_weight,
            "arch": self.arch,
        }
