"""Autoencoders: dense and convolutional, with separately usable encoder and decoder.

An :class:`Autoencoder` is an ordinary ``keras.Model`` (``compile``/``fit`` with a standard loss)
made of two Functional models, ``model.encoder`` (image -> code) and ``model.decoder``
(code -> image in [0, 1]). A *denoising* autoencoder is the same model trained on noisy inputs
with clean targets: see :func:`keraslab.data.noise.add_noise` and
:class:`keraslab.data.noise.NoisyImages`, which add fresh noise to every batch.

Reference: P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol, "Extracting and Composing Robust
Features with Denoising Autoencoders", ICML 2008.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np

from keraslab.layers.conv import Conv2DTranspose
from keraslab.models.common import SubModels, batched, check_images

KINDS = ("dense", "conv")


def build_dense_encoder(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 32,
    hidden: Sequence[int] = (256, 128),
    name: str = "encoder",
) -> keras.Model:
    """Flatten -> Dense(h, ReLU) for each of ``hidden`` -> Dense(latent_dim) (linear code)."""
    x_in = keras.Input(tuple(image_shape), name="image")
    x = keras.layers.Flatten()(x_in)
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
    code = keras.layers.Dense(latent_dim, name="code")(x)
    return keras.Model(x_in, code, name=name)


def build_dense_decoder(
    latent_dim: int = 32,
    image_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (128, 256),
    name: str = "decoder",
) -> keras.Model:
    """Dense(h, ReLU) for each of ``hidden`` -> Dense(h*w*c, sigmoid) -> Reshape."""
    z = keras.Input((latent_dim,), name="code")
    x = z
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
    x = keras.layers.Dense(math.prod(image_shape), activation="sigmoid", name="pixels")(x)
    return keras.Model(z, keras.layers.Reshape(tuple(image_shape))(x), name=name)


def build_conv_encoder(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 32,
    widths: Sequence[int] = (32, 64),
    name: str = "encoder",
) -> keras.Model:
    """Two stride-2 Conv2D(3x3, ReLU) -> Flatten -> Dense(latent_dim) (linear code)."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] % 4 or shape[1] % 4:
        raise ValueError(f"conv autoencoders need height and width multiples of 4, got {shape}.")
    x_in = keras.Input(shape, name="image")
    x = x_in
    for i, filters in enumerate(widths):
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}"
        )(x)
    code = keras.layers.Dense(latent_dim, name="code")(keras.layers.Flatten()(x))
    return keras.Model(x_in, code, name=name)


def build_conv_decoder(
    latent_dim: int = 32,
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (64, 32),
    name: str = "decoder",
) -> keras.Model:
    """Dense to (h/4, w/4, widths[0]) -> two stride-2 Conv2DTranspose(3x3, ReLU) ->
    Conv2D(channels, 3, sigmoid)."""
    h, w, c = (int(s) for s in image_shape)
    z = keras.Input((latent_dim,), name="code")
    x = keras.layers.Dense((h // 4) * (w // 4) * widths[0], activation="relu", name="project")(z)
    x = keras.layers.Reshape((h // 4, w // 4, widths[0]))(x)
    for i, filters in enumerate(widths):
        x = Conv2DTranspose(filters, 3, strides=2, padding="same", name=f"deconv{i + 1}")(x)
        x = keras.layers.ReLU()(x)
    out = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="to_image")(x)
    return keras.Model(z, out, name=name)


@keras.saving.register_keras_serializable(package="keraslab")
class Autoencoder(SubModels, keras.Model):
    """``decoder(encoder(x))``, trained with ``compile``/``fit`` like any Keras model.

    Args:
        image_shape: tuple of int. (height, width, channels), values in [0, 1].
        latent_dim: int. Size of the code (2 gives a plottable code space).
        kind: str. "dense" or "conv" (default encoder/decoder builders).
        encoder: optional ``keras.Model`` image -> code (overrides ``kind``).
        decoder: optional ``keras.Model`` code -> image in [0, 1].

    Example:
        >>> ae = Autoencoder((28, 28, 1), latent_dim=2, kind="conv")
        >>> ae.compile(optimizer="adam", loss="binary_crossentropy")
        >>> ae.fit(x_train, x_train, epochs=5)           # denoising: fit(noisy, clean)
        >>> codes = ae.encoder.predict(x_test)          # (n, 2)
        >>> images = ae.decoder.predict(codes)
    """

    sub_models = ("encoder", "decoder")

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 32,
        kind: str = "conv",
        encoder: keras.Model | None = None,
        decoder: keras.Model | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim, self.kind = int(latent_dim), kind
        if kind == "dense":
            self.encoder = encoder or build_dense_encoder(self.image_shape, self.latent_dim)
            self.decoder = decoder or build_dense_decoder(self.latent_dim, self.image_shape)
        else:
            self.encoder = encoder or build_conv_encoder(self.image_shape, self.latent_dim)
            self.decoder = decoder or build_conv_decoder(self.latent_dim, self.image_shape)
        self.built = True

    def call(self, x, training=False):
        return self.decoder(self.encoder(x, training=training), training=training)

    def check_images(self, x) -> np.ndarray:
        return check_images(x, self.image_shape)

    def encode(self, x, batch_size: int = 256) -> np.ndarray:
        x = check_images(x, self.image_shape)
        return batched(lambda b: self.encoder(b, training=False), x, batch_size)

    def decode(self, z, batch_size: int = 256) -> np.ndarray:
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"codes must have shape (n, {self.latent_dim}), got {z.shape}.")
        return batched(lambda b: self.decoder(b, training=False), z, batch_size)

    def reconstruct(self, x, batch_size: int = 256) -> np.ndarray:
        return self.decode(self.encode(x, batch_size), batch_size)

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "kind": self.kind,
            **self.sub_model_configs(),
        }
