"""DCGAN: a generator and a discriminator trained in two phases (Radford et al., 2016).

Two architectures ship as named presets (:data:`keraslab.presets.GAN_ARCHITECTURES`,
``DCGAN(arch=...)``, ``keraslab train dcgan --arch NAME``):

- ``"dcgan"`` (the default): the DCGAN paper's recipe at 28x28 -- batch normalisation and ReLU in
  the generator (Dense to 7x7x128, two stride-2 transposed convolutions to 28x28x32, a 3x3
  convolution to the image), LeakyReLU and batch normalisation in the discriminator (two stride-2
  convolutions) -- chosen by measured time to recognisable digits on a CPU (BENCHMARKS.md).
- ``"lecture"``: the course's "v2" networks exactly as the notes give them (Dense to 7x7x8, no
  normalisation, transposed convolutions 64-128-128 with strides 2-2-1, LeakyReLU(0.2)), kept so
  the lecture's experiment can be reproduced and compared.

``build_generator`` / ``build_discriminator`` (lecture) and ``build_bn_generator`` /
``build_bn_discriminator`` (dcgan) return plain Functional models usable on their own; ``DCGAN``
wires them into a :class:`~keraslab.engine.PhasedModel` that trains with ``fit()`` on any backend.

Reference: A. Radford, L. Metz, S. Chintala. "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016. https://arxiv.org/abs/1511.06434
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keraslab.engine import Phase, PhasedModel, along_batch, no_grad
from keraslab.layers.conv import Conv2DTranspose
from keraslab.models.common import SubModels, check_images, to_numpy
from keraslab.presets import GAN_ARCHITECTURES


def _check_image_shape(image_shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    if shape[0] % 4 or shape[1] % 4:
        raise ValueError(
            f"image height and width must be multiples of 4 (two 2x upsamplings), got {shape[:2]}."
        )
    return shape


def _latent_input(latent_dim, num_classes):
    """Latent input, and for a conditional network a label input embedded and concatenated."""
    z = keras.Input((latent_dim,), name="latent")
    if not num_classes:
        return z, z
    label = keras.Input((), dtype="int32", name="label")
    emb = keras.layers.Embedding(num_classes, min(50, 4 * num_classes), name="label_embedding")
    return [z, label], keras.layers.Concatenate()([z, emb(label)])


def build_generator(
    latent_dim: int = 64,
    image_shape: Sequence[int] = (28, 28, 1),
    base_channels: int = 8,
    widths: Sequence[int] = (64, 128, 128),
    kernel_size: int = 4,
    output_kernel_size: int = 5,
    conv_transpose: str = "auto",
    num_classes: int | None = None,
    strides: Sequence[int] = (2, 2, 1),
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
        num_classes: optional int. Class-conditional generator: a second input (integer labels,
            shape (n,)) is embedded and concatenated to the latent vector.
        strides: ints, one per entry of ``widths``; exactly two must be 2 (h/4 -> h), the rest 1.
        name: str. Model name.

    Example:
        >>> g = build_generator(64, (28, 28, 1))
        >>> g(keras.random.normal((2, 64))).shape
        (2, 28, 28, 1)
    """
    h, w, c = _check_image_shape(image_shape)
    if len(widths) != len(strides) or sorted(strides)[-2:] != [2, 2] or set(strides) - {1, 2}:
        raise ValueError(
            f"widths {tuple(widths)} need one stride each, two of them 2 and the rest 1; got {tuple(strides)}."
        )
    inputs, x = _latent_input(latent_dim, num_classes)
    x = keras.layers.Dense((h // 4) * (w // 4) * base_channels, name="project")(x)
    x = keras.layers.Reshape((h // 4, w // 4, base_channels))(x)
    for i, (filters, stride) in enumerate(zip(widths, strides)):
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
    return keras.Model(inputs, out, name=name)


def _image_input(shape, num_classes):
    """Image input, and for a conditional network a label input embedded as one extra channel."""
    x_in = keras.Input(shape, name="image")
    if not num_classes:
        return x_in, x_in
    h, w, _ = shape
    label = keras.Input((), dtype="int32", name="label")
    plane = keras.layers.Embedding(num_classes, h * w, name="label_embedding")(label)
    plane = keras.layers.Reshape((h, w, 1))(plane)
    return [x_in, label], keras.layers.Concatenate()([x_in, plane])


def build_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (32, 64, 64),
    kernel_size: int = 4,
    dropout: float = 0.2,
    num_classes: int | None = None,
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
        num_classes: optional int. Class-conditional: a second input (integer labels) is
            embedded as an extra image channel.
        name: str. Model name.
    """
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    inputs, x = _image_input(shape, num_classes)
    for i, (filters, stride) in enumerate(zip(widths, (2, 2, 1))):
        x = keras.layers.Conv2D(
            filters, kernel_size, strides=stride, padding="same", name=f"conv{i + 1}"
        )(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    out = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, out, name=name)


# Batch normalisation as in PyTorch's defaults (running average 0.9, epsilon 1e-5), the DCGAN
# reference implementation's numbers; Keras's own defaults are 0.99 and 1e-3.
_BN = {"momentum": 0.9, "epsilon": 1e-5}


def build_bn_generator(
    latent_dim: int = 64,
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (128, 64, 32),
    kernel_size: int = 4,
    output_kernel_size: int = 3,
    conv_transpose: str = "auto",
    num_classes: int | None = None,
    name: str = "generator",
) -> keras.Model:
    """The DCGAN paper's generator at small size: latent vector -> image in [0, 1].

    Dense(h/4 * w/4 * widths[0], no bias) -> BatchNorm -> ReLU -> Reshape ->
    Conv2DTranspose(widths[1], s2, no bias) -> BatchNorm -> ReLU ->
    Conv2DTranspose(widths[2], s2, no bias) -> BatchNorm -> ReLU ->
    Conv2D(channels, output_kernel_size) -> sigmoid.

    The paper's last layer is the transposed convolution to the image; the extra 3x3
    convolution at full resolution gave recognisable digits in fewer updates on CPU (measured:
    score 7.2 vs 6.5 after ~2,000 updates, BENCHMARKS.md).

    Args:
        latent_dim: int. Size of the latent vector.
        image_shape: tuple of int. (height, width, channels); height and width multiples of 4.
        widths: three ints. Channels at (h/4, w/4), (h/2, w/2) and (h, w).
        kernel_size: int. Kernel of the transposed convolutions.
        output_kernel_size: int. Kernel of the final convolution to the image.
        conv_transpose: str. "auto", "subpixel" or "native" (see
            :class:`keraslab.layers.Conv2DTranspose`; same weights either way).
        num_classes: optional int. Class-conditional: integer labels (a second input) are
            embedded and concatenated to the latent vector.
        name: str. Model name.

    Example:
        >>> g = build_bn_generator(64, (28, 28, 1))
        >>> g(keras.random.normal((2, 64))).shape
        (2, 28, 28, 1)
    """
    h, w, c = _check_image_shape(image_shape)
    if len(widths) != 3:
        raise ValueError(f"widths must be three ints, got {tuple(widths)}.")
    inputs, x = _latent_input(latent_dim, num_classes)
    x = keras.layers.Dense((h // 4) * (w // 4) * widths[0], use_bias=False, name="project")(x)
    x = keras.layers.BatchNormalization(**_BN, name="project_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((h // 4, w // 4, widths[0]))(x)
    for i, filters in enumerate(widths[1:], start=1):
        x = Conv2DTranspose(
            filters,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=False,
            implementation=conv_transpose,
            name=f"deconv{i}",
        )(x)
        x = keras.layers.BatchNormalization(**_BN, name=f"deconv{i}_bn")(x)
        x = keras.layers.ReLU()(x)
    out = keras.layers.Conv2D(
        c, output_kernel_size, padding="same", activation="sigmoid", name="to_image"
    )(x)
    return keras.Model(inputs, out, name=name)


def build_bn_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (64, 128),
    kernel_size: int = 4,
    num_classes: int | None = None,
    name: str = "discriminator",
) -> keras.Model:
    """The DCGAN paper's discriminator at small size: image -> one logit.

    Conv2D(widths[0], s2) -> LeakyReLU(0.2) -> Conv2D(widths[1], s2, no bias) -> BatchNorm ->
    LeakyReLU(0.2) -> Flatten -> Dense(1). No batch norm on the first layer (as in the paper).
    Real and generated images are given to it in separate calls, so each batch is normalised
    with its own statistics.

    Args:
        image_shape: tuple of int. (height, width, channels).
        widths: two ints. Filters of the two stride-2 convolutions.
        kernel_size: int. Kernel of the convolutions.
        num_classes: optional int. Class-conditional: labels embedded as an extra image channel.
        name: str. Model name.
    """
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
    if len(widths) != 2:
        raise ValueError(f"widths must be two ints, got {tuple(widths)}.")
    inputs, x = _image_input(shape, num_classes)
    x = keras.layers.Conv2D(widths[0], kernel_size, strides=2, padding="same", name="conv1")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(
        widths[1], kernel_size, strides=2, padding="same", use_bias=False, name="conv2"
    )(x)
    x = keras.layers.BatchNormalization(**_BN, name="conv2_bn")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, out, name=name)


def check_arch(arch: str) -> str:
    """``arch`` if it names a preset, else a one-line ValueError listing the valid ones."""
    if arch not in GAN_ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {arch!r}: choose one of {', '.join(GAN_ARCHITECTURES)}."
        )
    return arch


def build_networks(
    arch: str,
    latent_dim: int,
    image_shape: Sequence[int],
    num_classes: int | None = None,
    conv_transpose: str = "auto",
) -> tuple[keras.Model, keras.Model]:
    """``(generator, discriminator)`` of a preset in :data:`keraslab.presets.GAN_ARCHITECTURES`."""
    if check_arch(arch) == "lecture":
        return (
            build_generator(
                latent_dim, image_shape, conv_transpose=conv_transpose, num_classes=num_classes
            ),
            build_discriminator(image_shape, num_classes=num_classes),
        )
    return (
        build_bn_generator(
            latent_dim, image_shape, conv_transpose=conv_transpose, num_classes=num_classes
        ),
        build_bn_discriminator(image_shape, num_classes=num_classes),
    )


class ImageGAN(SubModels, PhasedModel):
    """What every keraslab GAN shares: a generator of images in [0, 1] from standard-normal
    latents (optionally class-conditional), seeded latents inside steps, and numpy sampling.

    Subclasses build ``self.generator`` and their critic/discriminator, then define ``phases()``.
    With ``num_classes`` set, the networks take ``[images or latents, labels]`` and ``fit`` needs
    integer labels as ``y``; generated images in a step get the labels of the real batch.
    """

    sub_models = ("generator",)

    def __init__(self, image_shape, latent_dim, num_classes=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes) if num_classes else None
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check_generator(self):
        g_out = tuple(self.generator.output.shape[1:])
        if g_out != self.image_shape:
            raise ValueError(
                f"generator makes images of shape {g_out}, expected {self.image_shape}."
            )
        n_inputs = len(self.generator.inputs)
        if n_inputs != (2 if self.num_classes else 1):
            kind = "conditional (2 inputs)" if self.num_classes else "unconditional (1 input)"
            raise ValueError(f"num_classes={self.num_classes} needs a {kind} generator.")

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def _latents(self, n):
        return along_batch(keras.random.normal((n, self.latent_dim), seed=self.seed_generator))

    def _labels(self, batch):
        """Integer labels of the batch (conditional models), checked."""
        if not self.conditional:
            return None
        if batch.y is None:
            raise ValueError(
                f"{type(self).__name__}(num_classes={self.num_classes}) trains on (images, labels)."
            )
        return ops.cast(ops.reshape(batch.y, (-1,)), "int32")

    def _generate(self, z, labels, training):
        """Generated images, as float32 (a bfloat16 generator's too)."""
        if self.conditional:
            return ops.cast(self.generator([z, labels], training=training), "float32")
        return ops.cast(self.generator(z, training=training), "float32")

    def _critic(self, network, images, labels, training=True):
        """The discriminator's / critic's scores, as float32 (a bfloat16 network's too)."""
        if self.conditional:
            return ops.cast(network([images, labels], training=training), "float32")
        return ops.cast(network(images, training=training), "float32")

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def check_images(self, x) -> np.ndarray:
        """``x`` as float32, or a one-line ValueError unless it has this model's image shape."""
        return check_images(x, self.image_shape)

    def sample(
        self, n: int, seed: int | None = 0, batch_size: int = 256, label: int | None = None
    ) -> np.ndarray:
        """Generate ``n`` images (numpy, values in [0, 1]) from standard-normal latents.

        ``label`` (conditional models only): every image of that class; default: classes in turn.
        """
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        labels = None if label is None else np.full((n,), label, "int32")
        return self.generate(z, batch_size=batch_size, labels=labels)

    def generate(self, z, batch_size: int = 256, labels=None) -> np.ndarray:
        """Images from latent vectors ``z`` (n, latent_dim); ``labels`` (n,) for conditional
        models (default: 0, 1, ..., num_classes - 1, 0, 1, ...)."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"latent vectors must have shape (n, {self.latent_dim}), got {z.shape}."
            )
        if labels is not None and not self.conditional:
            raise ValueError("this model is not class-conditional: it takes no labels.")
        if self.conditional:
            labels = (
                np.arange(len(z)) % self.num_classes
                if labels is None
                else np.asarray(labels, dtype="int32").reshape(-1)
            )
            if (
                len(labels) != len(z)
                or labels.min(initial=0) < 0
                or labels.max(initial=0) >= self.num_classes
            ):
                raise ValueError(f"labels must be {len(z)} integers in 0..{self.num_classes - 1}.")
            labels = labels.astype("int32")
        out = []
        for i in range(0, len(z), batch_size):
            lab = None if labels is None else labels[i : i + batch_size]
            images = self._generate(z[i : i + batch_size], lab, training=False)
            out.append(to_numpy(images))
        return np.concatenate(out) if out else np.zeros((0, *self.image_shape), "float32")

    def _common_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "seed": self.seed,
            **self.sub_model_configs(),
        }


@keras.saving.register_keras_serializable(package="keraslab")
class DCGAN(ImageGAN):
    """A DCGAN trained by two phases: discriminator, then generator, on every batch.

    Labels follow the lecture: 1 = generated, 0 = real, with label noise of size
    ``label_noise * U[0,1)`` on the discriminator's targets, applied inwards (``1 - noise`` for
    generated images, ``0 + noise`` for real ones: the lecture's ``1 + noise`` target, harmless
    with a clipped sigmoid output, makes the logit loss unbounded below and training diverge); the
    generator is trained against "misleading" all-zero ("real") labels (the non-saturating loss).
    Binary cross-entropy on logits. Generated images are detached in the discriminator phase.
    ``model(z)`` generates images in [0, 1]. With ``num_classes`` it is a conditional GAN
    (Mirza & Osindero, 2014): labels are embedded into both networks and ``fit`` takes ``(x, y)``.

    Args:
        image_shape: tuple of int. (height, width, channels) of the training images (in [0, 1]).
        latent_dim: int. Size of the latent vector.
        generator: optional ``keras.Model``. Defaults to the ``arch`` preset's
            (:func:`build_bn_generator` for "dcgan", :func:`build_generator` for "lecture").
        discriminator: optional ``keras.Model`` returning logits. Defaults to the preset's
            (:func:`build_bn_discriminator` / :func:`build_discriminator`).
        label_noise: float. Scale of the uniform noise added to the discriminator's targets.
        arch: str. Preset of the networks not given (``GAN_ARCHITECTURES``): "dcgan" (default)
            or "lecture".
        conv_transpose: str. "auto", "subpixel" or "native" (preset generators only).
        num_classes: optional int. Class-conditional generation (default networks only, or
            networks built with the same ``num_classes``).
        seed: optional int. Seed of the model's ``SeedGenerator`` (latents, label noise).

    Example:
        >>> gan = DCGAN(image_shape=(28, 28, 1), latent_dim=64)
        >>> gan.compile()                      # Adam(1e-4) for both phases
        >>> gan.fit(x_train, batch_size=128, epochs=5,
        ...         callbacks=[ImageGrid("samples/")])
        >>> images = gan.sample(16)            # numpy, (16, 28, 28, 1), values in [0, 1]
        >>> cgan = DCGAN(num_classes=10); cgan.compile(); cgan.fit(x_train, y_train)
        >>> sevens = cgan.sample(16, label=7)
    """

    sub_models = ("generator", "discriminator")

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 64,
        generator: keras.Model | None = None,
        discriminator: keras.Model | None = None,
        label_noise: float = 0.05,
        conv_transpose: str = "auto",
        num_classes: int | None = None,
        seed: int | None = None,
        arch: str = "dcgan",
        **kwargs,
    ):
        super().__init__(image_shape, latent_dim, num_classes, seed, **kwargs)
        self.label_noise = float(label_noise)
        self.conv_transpose = conv_transpose
        self.arch = check_arch(arch)
        if generator is None or discriminator is None:
            g, d = build_networks(arch, latent_dim, self.image_shape, num_classes, conv_transpose)
        self.generator = generator or g
        self.discriminator = discriminator or d
        self._check_generator()
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

    def discriminator_loss(self, batch):
        real = ops.cast(batch.x, "float32")
        labels_y = self._labels(batch)
        n = ops.shape(real)[0]
        training = batch.training
        with no_grad():
            fake = ops.stop_gradient(self._generate(self._latents(n), labels_y, training=training))
        # Label noise towards the inside of [0, 1]: 1 - noise for generated, 0 + noise for real.
        # (The lecture adds +noise to both; with from_logits=True a target above 1 makes the loss
        # unbounded below -- the discriminator is paid for infinite logits -- and training
        # diverges, so the 1-labels take their noise inwards.) Training only: evaluate() scores
        # against the clean labels.
        if training:
            noise = self.label_noise * along_batch(
                keras.random.uniform((2 * n, 1), seed=self.seed_generator)
            )
        else:
            noise = ops.zeros((2 * n, 1))
        # Generated and real images in separate calls: a batch-normalised discriminator sees
        # each kind with its own statistics (as in the DCGAN reference code). The loss is the
        # mean over all 2n images, as for one concatenated batch.
        fake_logits = self._critic(self.discriminator, fake, labels_y, training)
        real_logits = self._critic(self.discriminator, real, labels_y, training)
        bce = keras.losses.binary_crossentropy
        fake_loss = bce(1.0 - noise[:n], fake_logits, from_logits=True)
        real_loss = bce(noise[n:], real_logits, from_logits=True)
        return 0.5 * (ops.mean(fake_loss) + ops.mean(real_loss))

    def generator_loss(self, batch):
        labels_y = self._labels(batch)
        n = ops.shape(batch.x)[0]
        fake = self._generate(self._latents(n), labels_y, training=batch.training)
        logits = self._critic(self.discriminator, fake, labels_y, batch.training)
        misleading = ops.zeros((n, 1))  # "these are real"
        return ops.mean(keras.losses.binary_crossentropy(misleading, logits, from_logits=True))

    def get_config(self):
        return {
            **self._common_config(),
            "label_noise": self.label_noise,
            "conv_transpose": self.conv_transpose,
            "arch": self.arch,
        }
