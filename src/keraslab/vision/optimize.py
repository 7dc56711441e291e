"""Optimising an image instead of a network: the input is the only trainable variable.

Filter visualisation (gradient ascent on a filter's activation) and neural style transfer
(descent on content + style + total-variation losses) both fit an image to an objective through
a frozen network. Here that image is the one variable of a :class:`~keraslab.engine.PhasedModel`,
so the phase engine differentiates and jit-compiles the step on JAX, TensorFlow and PyTorch
like any other training, and ``fit`` gives the progress bar and the callbacks.

Parameterisation (Olah, Mordvintsev & Schubert, 2017, "Feature Visualization", Distill): the
image is ``sigmoid(p @ C)`` of an unconstrained tensor ``p``. ``C`` is the identity, or with
``decorrelate=True`` the square root of ImageNet's colour covariance (the matrix of the Lucid
library), so that a step moves decorrelated colours and the optimiser does not spend its steps
on one channel. Pixels stay in [0, 1] without clipping. With ``parameterization="fourier"``,
``p`` is itself the inverse FFT of a trained spectrum scaled by 1/frequency (Lucid's
``fft_image``): every frequency learns at the same rate, so the images are not drowned in the
high-frequency patterns that plain pixel ascent produces.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from keraslab.engine import Phase, PhasedModel

# Lucid's color_correlation_svd_sqrt (ImageNet RGB), scaled so its largest column norm is 1.
_COLOR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR_DECORRELATION = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


def _logit(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, np.float64), 1e-3, 1 - 1e-3)
    return np.log(x / (1 - x))


class NormalizedAscent(keras.optimizers.Optimizer):
    """Gradient steps of a fixed size: ``p -= lr * g / rms(g)``, the RMS taken per image.

    The "normalised gradient" of the Keras feature-visualisation example: every step moves each
    image by the same amount, whatever the scale of the activation. Ascent is descent on the
    negated objective.

    Args:
        learning_rate: float. Step size in units of the gradient's RMS.
    """

    def __init__(self, learning_rate: float = 1.0, name: str = "normalized_ascent", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        axes = tuple(range(1, len(variable.shape)))
        rms = ops.sqrt(ops.mean(ops.square(gradient), axis=axes, keepdims=True))
        self.assign_sub(variable, lr * gradient / (rms + 1e-8))


class ImageOptimization(PhasedModel):
    """A batch of images, trained through a frozen network to minimise an objective.

    Args:
        network: keras.Model. Maps ``preprocess(images)`` to what ``objective`` reads (a tensor
            or a list of tensors); frozen (called with ``training=False``, never updated).
        objective: callable ``(images, outputs) -> (loss, {name: value})``. Written in
            ``keras.ops``; ``images`` are in [0, 1] (after jitter), ``outputs`` the network's.
        init: array ``(N, H, W, 3)`` in [0, 1]. The starting images.
        preprocess: callable. Maps images in [0, 1] to the network's input (default: identity).
        metrics: tuple of str. Names of the values the objective returns, logged each epoch.
        decorrelate: bool. Optimise decorrelated colours (see the module docstring).
        parameterization: str. ``"pixel"`` (the image's logits) or ``"fourier"`` (their
            1/f-scaled spectrum).
        jitter: int. Each step sees the images shifted by up to this many pixels (reflected at
            the edges), so that the result does not rely on exact pixel positions.
        seed: optional int. Seed of the jitter.

    Example:
        >>> opt = ImageOptimization(net, lambda x, y: (-ops.mean(y), {}), np.full((1, 64, 64, 3), .5))
        >>> opt.compile(optimizers={"image": keras.optimizers.Adam(0.05)})
        >>> opt.fit(np.zeros((100, 1)), batch_size=1, epochs=1)   # 100 steps
        >>> images = opt.images()
    """

    def __init__(
        self,
        network: keras.Model,
        objective: Callable,
        init: np.ndarray,
        preprocess: Callable | None = None,
        metrics: tuple[str, ...] = (),
        decorrelate: bool = False,
        parameterization: str = "pixel",
        jitter: int = 0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        init = np.asarray(init, np.float32)
        if init.ndim != 4 or init.shape[-1] != 3:
            raise ValueError(f"init must be (N, H, W, 3) images, got shape {init.shape}.")
        self.network = network
        self.network.trainable = False
        self.objective = objective
        self.preprocess = preprocess or (lambda x: x)
        self.metric_names = tuple(metrics)
        self.jitter = int(jitter)
        self.color = COLOR_DECORRELATION if decorrelate else np.eye(3, dtype=np.float32)
        start = _logit(init) @ np.linalg.inv(self.color)  # (N, H, W, 3): what decode inverts
        self.parameterization = parameterization
        if parameterization == "pixel":
            values = [start]
            names = ["pixels"]
        elif parameterization == "fourier":
            n, h, w, _ = init.shape
            fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
            self.scale = (np.sqrt(h * w) / np.maximum(np.hypot(fx, fy), 1.0 / max(h, w))).astype(
                np.float32
            )
            spectrum = np.fft.fft2(start.transpose(0, 3, 1, 2) * 4.0) / self.scale
            values = [spectrum.real, spectrum.imag]  # (N, 3, H, W) each
            names = ["spectrum_real", "spectrum_imag"]
        else:
            raise ValueError(
                f"parameterization must be 'pixel' or 'fourier', got {parameterization!r}."
            )
        self.params = [
            self.add_weight(
                shape=v.shape,
                initializer=keras.initializers.Constant(v.astype(np.float32)),
                name=name,
            )
            for v, name in zip(values, names)
        ]
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def decode(self, params=None):
        """Images in [0, 1] from the trained variables."""
        params = self.params if params is None else params
        if self.parameterization == "fourier":
            real, imag = params
            scale = ops.convert_to_tensor(self.scale)
            real, _ = ops.fft2((real * scale, -(imag * scale)))  # inverse via conjugation:
            # ifft2(X) = conj(fft2(conj(X))) / (H W); only the real part is kept
            x = ops.transpose(real, (0, 2, 3, 1)) / float(np.prod(self.scale.shape)) / 4.0
        else:
            (x,) = params
        return ops.sigmoid(ops.einsum("nhwc,cd->nhwd", x, self.color))

    def images(self) -> np.ndarray:
        """The current images, ``(N, H, W, 3)`` float32 in [0, 1]."""
        return ops.convert_to_numpy(self.decode())

    def _shifted(self, images):
        j = self.jitter
        if not j:
            return images
        n, h, w, c = images.shape
        padded = ops.pad(images, ((0, 0), (j, j), (j, j), (0, 0)), mode="reflect")
        dy, dx = ops.unstack(keras.random.randint((2,), 0, 2 * j + 1, seed=self.seed_generator))
        return ops.slice(padded, (0, dy, dx, 0), (n, h, w, c))

    def _loss(self, batch):
        images = self._shifted(self.decode())
        outputs = self.network(self.preprocess(images), training=False)
        return self.objective(images, outputs)

    def phases(self):
        return [
            Phase(
                "image",
                self.params,
                self.optimizers["image"],
                self._loss,
                metrics=self.metric_names,
                batch_weight=lambda batch: 1.0,
            )
        ]

    def run(self, steps: int, optimizer, log_every: int = 0, callbacks=(), verbose: int = 0):
        """Take ``steps`` optimisation steps; returns the Keras ``History``.

        Args:
            steps: int. Updates of the images.
            optimizer: keras optimizer. E.g. ``keras.optimizers.Adam(0.05)`` or
                :class:`NormalizedAscent`.
            log_every: int. Steps per logged "epoch" (the objective's metrics are the means over
                those steps); default: ``steps`` (one epoch).
            callbacks: Keras callbacks (e.g. one saving the images every epoch).
            verbose: int. Keras's progress bar (1) or nothing (0).
        """
        from keraslab.engine import fastest_jit_compile

        every = min(int(log_every) or steps, steps)
        epochs = max(1, steps // every)
        self.compile(optimizers={"image": optimizer}, jit_compile=fastest_jit_compile())
        dummy = np.zeros((every, 1), np.float32)
        return self.fit(
            dummy, batch_size=1, epochs=epochs, shuffle=False, verbose=verbose,
            callbacks=list(callbacks),
        )  # fmt: skip
