"""DCGAN: a generator and a discriminator trained in two phases (Radford et al., 2016).

The defaults are the lecture's "v2" DCGAN for 28x28 grayscale images. ``build_generator`` and
``build_discriminator`` return plain Functional models usable on their own; ``DCGAN`` wires them
into a :class:`~keraslab.engine.PhasedModel` that trains with ``fit()`` on any Keras backend.

Reference: A. Radford, L. Metz, S. Chintala. "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016. https://arxiv.org/abs/1511.06434
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keraslab.engine import Phase, PhasedModel, no_grad
from keraslab.layers.conv import Conv2DTranspose


def _check_image_shape(image_shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    if shape[0] % 4 or shape[1] % 4:
        raise ValueError(
            f"image height and width must be multiples of 4 (two 2x upsamplings), got {shape[:2]}."
        )
    return shape


def build_generator(
    latent_dim: int = 64,
    image_shape: Sequence[int] = (28, 28, 1),
    base_channels: int = 8,
    widths: Sequence[int] = (64, 128, 128),
    kernel_size: int = 4,
    output_kernel_size: int = 5,
    conv_transpose: str = "auto",
    name: str = "generator",
) -> keras.Model:
    """The DCGAN generator: latent vector -> image in [0, 1].

    Dense(h/4 * w/4 * base_channels) -> Reshape -> Conv2DTranspose(widths[0], s2) ->
    Conv2DTranspose(widths[1], s2) -> Conv2DTranspose(widths[2], s1), each + LeakyReLU(0.2) ->
    Conv2D(channels, output_kernel_size, sigmoid).

    Args:
        latent_dim: int. Size of the latent vector.
        image_shape: tuple of int. (height, width, channels); height and width multiples of 4.
        base_channels: int. Channels of the (h/4, w/4) map after the first Dense.
        widths: three ints. Filters of the three transposed convolutions.
        kernel_size: int. Kernel of the transposed convolutions.
        output_kernel_size: int. Kernel of the final sigmoid convolution.
        conv_transpose: str. "auto", "subpixel" or "native": how the transposed convolutions are
            computed (see :class:`keraslab.layers.Conv2DTranspose`; same weights either way).
        name: str. Model name.

    Example:
        >>> g = build_generator(64, (28, 28, 1))
        >>> g(keras.random.normal((2, 64))).shape
        (2, 28, 28, 1)
    """
    h, w, c = _check_image_shape(image_shape)
    if len(widths) != 3:
        raise ValueError(f"widths must have three entries, got {widths!r}.")
    z = keras.Input((latent_dim,), name="latent")
    x = keras.layers.Dense((h // 4) * (w // 4) * base_channels, name="project")(z)
    x = keras.layers.Reshape((h // 4, w // 4, base_channels))(x)
    for i, (filters, stride) in enumerate(zip(widths, (2, 2, 1))):
        x = Conv2DTranspose(
            filters,
            kernel_size,
            strides=stride,
            padding="same",
            implementation=conv_transpose,
            name=f"deconv{i + 1}",
        )(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    out = keras.layers.Conv2D(
        c, output_kernel_size, padding="same", activation="sigmoid", name="to_image"
    )(x)
    return keras.Model(z, out, name=name)


def build_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (32, 64, 64),
    kernel_size: int = 4,
    dropout: float = 0.2,
    name: str = "discriminator",
) -> keras.Model:
    """The DCGAN discriminator: image -> one logit (no sigmoid; use ``from_logits=True``).

    Conv2D(widths[0], s2) -> Conv2D(widths[1], s2) -> Conv2D(widths[2], s1), each + LeakyReLU(0.2)
    -> Flatten -> Dropout -> Dense(1).

    Args:
        image_shape: tuple of int. (height, width, channels).
        widths: three ints. Filters of the three convolutions.
        kernel_size: int. Kernel of the convolutions.
        dropout: float. Dropout rate before the final Dense.
        name: str. Model name.
    """
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    x_in = keras.Input(shape, name="image")
    x = x_in
    for i, (filters, stride) in enumerate(zip(widths, (2, 2, 1))):
        x = keras.layers.Conv2D(
            filters, kernel_size, strides=stride, padding="same", name=f"conv{i + 1}"
        )(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    out = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(x_in, out, name=name)


@keras.saving.register_keras_serializable(package="keraslab")
class DCGAN(PhasedModel):
    """A DCGAN trained by two phases: discriminator, then generator, on every batch.

    Labels follow the lecture: 1 = generated, 0 = real, with label noise of size
    ``label_noise * U[0,1)`` on the discriminator's targets, applied inwards (``1 - noise`` for
    generated images, ``0 + noise`` for real ones: the lecture's ``1 + noise`` target, harmless
    with a clipped sigmoid output, makes the logit loss unbounded below and training diverge); the generator is trained against "misleading" all-zero
    ("real") labels (the non-saturating loss). Binary cross-entropy on logits. Generated images are
    detached in the discriminator phase. ``model(z)`` generates images in [0, 1].

    Args:
        image_shape: tuple of int. (height, width, channels) of the training images (in [0, 1]).
        latent_dim: int. Size of the latent vector.
        generator: optional ``keras.Model``. Defaults to :func:`build_generator`.
        discriminator: optional ``keras.Model`` returning logits. Defaults to
            :func:`build_discriminator`.
        label_noise: float. Scale of the uniform noise added to the discriminator's targets.
        conv_transpose: str. "auto", "subpixel" or "native" (default generator only).
        seed: optional int. Seed of the model's ``SeedGenerator`` (latents, label noise).

    Example:
        >>> gan = DCGAN(image_shape=(28, 28, 1), latent_dim=64)
        >>> gan.compile()                      # Adam(1e-4) for both phases
        >>> gan.fit(x_train, batch_size=128, epochs=5,
        ...         callbacks=[ImageGrid("samples/")])
        >>> images = gan.sample(16)            # numpy, (16, 28, 28, 1), values in [0, 1]
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 64,
        generator: keras.Model | None = None,
        discriminator: keras.Model | None = None,
        label_noise: float = 0.05,
        conv_transpose: str = "auto",
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        self.label_noise = float(label_noise)
        self.conv_transpose = conv_transpose
        self.seed = seed
        self.generator = generator or build_generator(
            latent_dim, self.image_shape, conv_transpose=conv_transpose
        )
        self.discriminator = discriminator or build_discriminator(self.image_shape)
        g_out = tuple(self.generator.output.shape[1:])
        if g_out != self.image_shape:
            raise ValueError(
                f"generator makes images of shape {g_out}, expected {self.image_shape}."
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def compile(self, d_optimizer=None, g_optimizer=None, optimizers=None, **kwargs):
        """Adam(1e-4) for both phases unless given.

        Args:
            d_optimizer: optional optimizer of the discriminator phase.
            g_optimizer: optional optimizer of the generator phase.
        """
        optimizers = optimizers or {
            "d": d_optimizer or keras.optimizers.Adam(1e-4),
            "g": g_optimizer or keras.optimizers.Adam(1e-4),
        }
        super().compile(optimizers=optimizers, **kwargs)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def phases(self):
        return [
            Phase(
                "d",
                self.discriminator.trainable_variables,
                self.optimizers["d"],
                self.discriminator_loss,
            ),
            Phase(
                "g", self.generator.trainable_variables, self.optimizers["g"], self.generator_loss
            ),
        ]

    def _latents(self, n):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def discriminator_loss(self, batch):
        real = ops.cast(batch.x, "float32")
        n = ops.shape(real)[0]
        with no_grad():
            fake = ops.stop_gradient(self.generator(self._latents(n), training=True))
        images = ops.concatenate([fake, real], axis=0)
        labels = ops.concatenate([ops.ones((n, 1)), ops.zeros((n, 1))], axis=0)
        # Label noise towards the inside of [0, 1]: 1 - noise for generated, 0 + noise for real.
        # (The lecture adds +noise to both; with from_logits=True a target above 1 makes the loss
        # unbounded below -- the discriminator is paid for infinite logits -- and training
        # diverges, so the 1-labels take their noise inwards.)
        noise = self.label_noise * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
        labels = labels + noise * (1.0 - 2.0 * labels)
        logits = self.discriminator(images, training=True)
        return ops.mean(keras.losses.binary_crossentropy(labels, logits, from_logits=True))

    def generator_loss(self, batch):
        n = ops.shape(batch.x)[0]
        logits = self.discriminator(self.generator(self._latents(n), training=True), training=True)
        misleading = ops.zeros((n, 1))  # "these are real"
        return ops.mean(keras.losses.binary_crossentropy(misleading, logits, from_logits=True))

    def sample(self, n: int, seed: int | None = 0, batch_size: int = 256) -> np.ndarray:
        """Generate ``n`` images (numpy, values in [0, 1]) from standard-normal latents."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return self.generate(z, batch_size=batch_size)

    def generate(self, z, batch_size: int = 256) -> np.ndarray:
        """Generate images from given latent vectors ``z`` of shape (n, latent_dim)."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latents must have shape (n, {self.latent_dim}), got {z.shape}.")
        out = [
            ops.convert_to_numpy(self.generator(z[i : i + batch_size], training=False))
            for i in range(0, len(z), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, *self.image_shape), "float32")

    def get_config(self):
        return {
            "name": self.name,
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "label_noise": self.label_noise,
            "conv_transpose": self.conv_transpose,
            "seed": self.seed,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
