"""A convolutional variational autoencoder (Kingma & Welling, 2014) with a beta weight
(Higgins et al., 2017), optional KL warm-up, and its evaluation in nats: the ELBO and the
importance-sampled log-likelihood (Burda et al., 2016).

The encoder maps an image to ``(z_mean, z_log_var)``; :class:`~keraslab.layers.Sampling` draws
``z``; the decoder maps ``z`` to per-pixel *logits*. The likelihood is Bernoulli (binary
cross-entropy on logits; for binarised images) or Gaussian with a fixed standard deviation on
``sigmoid(logits)`` (squared error). ``encoder`` and ``decoder`` are Functional models usable
on their own.

References: D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014;
I. Higgins et al., "beta-VAE", ICLR 2017; Y. Burda, R. Grosse, R. Salakhutdinov, "Importance
Weighted Autoencoders", ICLR 2016 (the k-sample estimator of log p(x)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keraslab.engine import Phase, PhasedModel
from keraslab.layers.conv import Conv2DTranspose
from keraslab.layers.sampling import Sampling
from keraslab.models.common import SubModels, batched, check_images

LIKELIHOODS = ("bernoulli", "gaussian")
BINARIZE = ("none", "dynamic")
_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mean, log_var, prior_mean=0.0, prior_log_var=0.0):
    """KL(N(mean, exp(log_var)) || N(prior_mean, exp(prior_log_var))), diagonal, summed over the
    last axis (one value per example). Written in ``keras.ops``: differentiable on any backend.

    Example:
        >>> gaussian_kl(ops.zeros((2, 8)), ops.zeros((2, 8)))   # [0., 0.]
    """
    prior_mean = ops.cast(prior_mean, mean.dtype)
    prior_log_var = ops.cast(prior_log_var, log_var.dtype)
    var_ratio = ops.exp(log_var - prior_log_var)
    diff2 = ops.square(mean - prior_mean) / ops.exp(prior_log_var)
    return 0.5 * ops.sum(var_ratio + diff2 - 1.0 - (log_var - prior_log_var), axis=-1)


def _check_shape(image_shape):
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] % 4 or shape[1] % 4:
        raise ValueError(
            f"image_shape must be (height, width, channels) with height and width multiples of 4, "
            f"got {image_shape!r}."
        )
    return shape


def build_vae_encoder(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 32,
    widths: Sequence[int] = (32, 64),
    hidden: int = 256,
    name: str = "encoder",
) -> keras.Model:
    """Image -> ``[z_mean, z_log_var]``: two stride-2 Conv2D(3x3, ReLU), Dense(hidden, ReLU).

    Args:
        image_shape: tuple of int. (height, width, channels), height and width multiples of 4.
        latent_dim: int. Size of the latent code.
        widths: two ints. Filters of the convolutions.
        hidden: int. Units of the dense layer before the two heads.
        name: str. Model name.
    """
    shape = _check_shape(image_shape)
    x_in = keras.Input(shape, name="image")
    x = x_in
    for i, filters in enumerate(widths):
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}"
        )(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hidden, activation="relu", name="hidden")(x)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(x_in, [z_mean, z_log_var], name=name)


def build_vae_decoder(
    latent_dim: int = 32,
    image_shape: Sequence[int] = (28, 28, 1),
    widths: Sequence[int] = (64, 32),
    hidden: int = 256,
    name: str = "decoder",
) -> keras.Model:
    """Latent code -> per-pixel logits: Dense(hidden), Dense to (h/4, w/4, widths[0]), two
    stride-2 Conv2DTranspose(3x3, ReLU), Conv2D(channels, 3) without activation.

    Args:
        latent_dim: int. Size of the latent code.
        image_shape: tuple of int. (height, width, channels) of the output.
        widths: two ints. Filters of the transposed convolutions.
        hidden: int. Units of the first dense layer.
        name: str. Model name.
    """
    h, w, c = _check_shape(image_shape)
    z = keras.Input((latent_dim,), name="latent")
    x = keras.layers.Dense(hidden, activation="relu", name="hidden")(z)
    x = keras.layers.Dense((h // 4) * (w // 4) * widths[0], activation="relu", name="project")(x)
    x = keras.layers.Reshape((h // 4, w // 4, widths[0]))(x)
    for i, filters in enumerate(widths):
        x = Conv2DTranspose(filters, 3, strides=2, padding="same", name=f"deconv{i + 1}")(x)
        x = keras.layers.ReLU()(x)
    logits = keras.layers.Conv2D(c, 3, padding="same", name="logits")(x)
    return keras.Model(z, logits, name=name)


@keras.saving.register_keras_serializable(package="keraslab")
class VAE(SubModels, PhasedModel):
    """A (beta-)VAE trained by one phase whose loss is the negative ELBO, per example in nats:
    ``reconstruction + beta_t * KL(q(z|x) || N(0, I))``, averaged over the batch.

    ``beta_t`` grows linearly from ``beta / kl_warmup_steps`` to ``beta`` over the first
    ``kl_warmup_steps`` updates (0: no warm-up), read from the optimizer's step counter, so it is
    part of the saved state and right after a resume. With ``binarize="dynamic"`` every batch is
    re-binarised (pixel ~ Bernoulli(intensity)) inside the step, as in the IWAE paper.

    Logged per epoch: ``vae_loss`` (the weighted loss), ``reconstruction`` and ``kl``.
    ``evaluate()`` reports the same with ``beta`` itself (no warm-up): with ``beta=1`` its
    ``vae_loss`` is a one-sample estimate of the negative ELBO.

    Args:
        image_shape: tuple of int. (height, width, channels), values in [0, 1].
        latent_dim: int. Size of the latent code.
        encoder: optional ``keras.Model`` image -> [z_mean, z_log_var]. Default
            :func:`build_vae_encoder`.
        decoder: optional ``keras.Model`` z -> logits. Default :func:`build_vae_decoder`.
        likelihood: str. "bernoulli" (binary cross-entropy) or "gaussian" (squared error with
            standard deviation ``sigma`` around ``sigmoid(logits)``).
        sigma: float. Standard deviation of the Gaussian likelihood.
        beta: float. Weight of the KL term (1: the ELBO).
        kl_warmup_steps: int. Linear KL warm-up length in updates.
        binarize: str. "none" or "dynamic".
        seed: optional int. Seed of the sampling layer and of dynamic binarisation.
        prior_components: int. 0: :meth:`sample` draws z from N(0, I). k > 0: from a mixture of
            k Gaussians fitted to the training images' codes by :meth:`fit_prior` (kept as
            non-trainable weights; N(0, I) until fitted). Training and the likelihoods keep N(0, I).

    Example:
        >>> vae = VAE((28, 28, 1), latent_dim=16)
        >>> vae.compile()                               # Adam(1e-3)
        >>> vae.fit(x_train, batch_size=128, epochs=10)
        >>> vae.elbo(x_test).mean(), vae.log_likelihood(x_test[:100], k=200).mean()
        >>> images = vae.sample(16)
        >>> vae = VAE((28, 28, 1), latent_dim=16, prior_components=25)   # ... fit as above, then
        >>> vae.fit_prior(x_train[:5000]); images = vae.sample(16)       # sharper samples
    """

    sub_models = ("encoder", "decoder")

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 32,
        encoder: keras.Model | None = None,
        decoder: keras.Model | None = None,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        binarize: str = "none",
        seed: int | None = None,
        prior_components: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
        if binarize not in BINARIZE:
            raise ValueError(f"binarize must be one of {BINARIZE}, got {binarize!r}.")
        if beta < 0 or sigma <= 0 or kl_warmup_steps < 0:
            raise ValueError("beta and kl_warmup_steps must be >= 0 and sigma > 0.")
        self.image_shape = _check_shape(image_shape)
        self.latent_dim = int(latent_dim)
        self.likelihood, self.sigma, self.beta = likelihood, float(sigma), float(beta)
        self.kl_warmup_steps, self.binarize, self.seed = int(kl_warmup_steps), binarize, seed
        self.encoder = encoder or build_vae_encoder(self.image_shape, self.latent_dim)
        self.decoder = decoder or build_vae_decoder(self.latent_dim, self.image_shape)
        self.sampling = Sampling(seed=seed, name="sampling")
        self.seed_generator = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.prior_components = int(prior_components)
        if self.prior_components < 0:
            raise ValueError(f"prior_components must be >= 0, got {prior_components}.")
        if self.prior_components:
            # The sampling prior's mixture (non-trainable, saved with the weights); every
            # component N(0, I) until fit_prior: the standard prior's draws.
            k, d = self.prior_components, self.latent_dim
            eye = np.tile(np.eye(d, dtype="float32"), (k, 1, 1))
            self.prior_log_weights, self.prior_means, self.prior_cholesky = (
                self.add_weight(
                    shape=shape, initializer=init, trainable=False, dtype="float32", name=name
                )
                for shape, init, name in (
                    ((k,), "zeros", "prior_log_weights"),
                    ((k, d), "zeros", "prior_means"),
                    ((k, d, d), keras.initializers.Constant(eye), "prior_cholesky"),
                )
            )
        self.built = True

    def compile(self, optimizer=None, optimizers=None, **kwargs):
        """Adam(1e-3) unless given."""
        super().compile(
            optimizers=optimizers or {"vae": optimizer or keras.optimizers.Adam(1e-3)}, **kwargs
        )

    def call(self, x, training=False):
        """Reconstruction probabilities (mean image) of ``x`` through a sampled code."""
        z_mean, z_log_var = self.encoder(x, training=training)
        return ops.sigmoid(self.decoder(self.sampling([z_mean, z_log_var]), training=training))

    def phases(self):
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        return [
            Phase(
                "vae",
                variables,
                self.optimizers["vae"],
                self.vae_loss,
                metrics=("reconstruction", "kl"),
            )
        ]

    def _beta_now(self):
        if self.kl_warmup_steps == 0:
            return self.beta
        step = ops.cast(self.optimizers["vae"].iterations, "float32") + 1.0
        return self.beta * ops.minimum(1.0, step / float(self.kl_warmup_steps))

    def reconstruction_nll(self, x, logits):
        """-log p(x | z) per example (nats), from decoder logits. ``keras.ops``."""
        axes = list(range(1, len(logits.shape)))
        if self.likelihood == "bernoulli":
            # log p = x * l - softplus(l): binary cross-entropy on logits, summed.
            return ops.sum(ops.softplus(logits) - x * logits, axis=axes)
        mu = ops.sigmoid(logits)
        per_pixel = 0.5 * ops.square((x - mu) / self.sigma) + math.log(self.sigma) + 0.5 * _LOG_2PI
        return ops.sum(per_pixel, axis=axes)

    def vae_loss(self, batch):
        x = ops.cast(batch.x, "float32")
        if self.binarize == "dynamic":
            u = keras.random.uniform(ops.shape(x), seed=self.seed_generator)
            x = ops.cast(u < x, "float32")
        # Sums over pixels and latents in float32 (a bfloat16 network's outputs too).
        z_mean, z_log_var = (
            ops.cast(t, "float32") for t in self.encoder(x, training=batch.training)
        )
        z = self.sampling([z_mean, z_log_var])
        logits = ops.cast(self.decoder(z, training=batch.training), "float32")
        recon = ops.mean(self.reconstruction_nll(x, logits))
        kl = ops.mean(gaussian_kl(z_mean, z_log_var))
        # The KL warm-up is a training schedule: evaluate() scores the final objective (beta).
        beta = self._beta_now() if batch.training else self.beta
        return recon + beta * kl, {"reconstruction": recon, "kl": kl}

    # ---- inference (numpy in, numpy out) -------------------------------------------------

    def encode(self, x, batch_size: int = 256):
        """``(z_mean, z_log_var)`` of images ``x``."""
        x = check_images(x, self.image_shape)
        return batched(lambda b: self.encoder(b, training=False), x, batch_size)

    def decode(self, z, batch_size: int = 256) -> np.ndarray:
        """Mean images ``sigmoid(decoder(z))`` in [0, 1]."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"latent vectors must have shape (n, {self.latent_dim}), got {z.shape}."
            )
        return batched(lambda b: ops.sigmoid(self.decoder(b, training=False)), z, batch_size)

    generate = decode  # the name ImageGrid and FID helpers call

    def prior_draws(self, n: int, seed: int | None = 0) -> np.ndarray:
        """``n`` latent vectors from the sampling prior: N(0, I), or the mixture fitted by
        :meth:`fit_prior` when the model has ``prior_components`` (the same standard-normal
        numbers from the same seed, moved by the chosen component)."""
        if not self.prior_components:
            rng = np.random.default_rng(seed)
            return rng.standard_normal((n, self.latent_dim)).astype("float32")
        from keraslab.models.latent_mixture import mixture_draws

        parts = (self.prior_log_weights, self.prior_means, self.prior_cholesky)
        return mixture_draws(*(ops.convert_to_numpy(v) for v in parts), n=n, seed=seed)

    def fit_prior(self, x, seed: int = 0, batch_size: int = 256) -> None:
        """Fit the sampling prior's mixture (``prior_components`` full-covariance Gaussians) to
        the posterior means of images ``x`` (as the encoder sees them: binarised for a Bernoulli
        likelihood); :meth:`sample` then draws from it. The ELBO and log-likelihood keep N(0, I).
        See :mod:`keraslab.models.latent_mixture`."""
        if not self.prior_components:
            raise ValueError("this VAE samples from N(0, I): build it with prior_components > 0.")
        from keraslab.models.latent_mixture import fit_mixture

        codes = ops.convert_to_numpy(self.encode(x, batch_size)[0])
        fitted = fit_mixture(codes, self.prior_components, seed=seed)
        for variable, value in zip(
            (self.prior_log_weights, self.prior_means, self.prior_cholesky), fitted
        ):
            variable.assign(value)

    def sample(self, n: int, seed: int | None = 0, batch_size: int = 256) -> np.ndarray:
        """``n`` mean images decoded from prior draws (:meth:`prior_draws`)."""
        return self.decode(self.prior_draws(n, seed), batch_size)

    def reconstruct(self, x, batch_size: int = 256) -> np.ndarray:
        """Mean images decoded from the posterior means of ``x``."""
        return self.decode(self.encode(x, batch_size)[0], batch_size)

    def check_images(self, x) -> np.ndarray:
        return check_images(x, self.image_shape)

    def _log_px_given_z(self, x, logits):
        """numpy log p(x | z), x (..., h, w, c) broadcast against logits (..., h, w, c)."""
        axes = (-3, -2, -1)
        if self.likelihood == "bernoulli":
            return np.sum(x * logits - np.logaddexp(0.0, logits), axis=axes)
        mu = 1.0 / (1.0 + np.exp(-logits))
        return -np.sum(
            0.5 * ((x - mu) / self.sigma) ** 2 + math.log(self.sigma) + 0.5 * _LOG_2PI, axis=axes
        )

    def elbo(self, x, samples: int = 1, seed: int = 0, batch_size: int = 256) -> np.ndarray:
        """Per-example ELBO (nats): ``E_q[log p(x|z)] - KL``, the expectation over ``samples``
        draws of z; ``x`` as given (binarise it first for a Bernoulli likelihood)."""
        x = check_images(x, self.image_shape).astype("float64")
        rng = np.random.default_rng(seed)
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            mean, log_var = (np.asarray(a, "float64") for a in self.encode(xb, batch_size))
            kl = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)
            rec = np.zeros(len(xb))
            for _ in range(samples):
                z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
                logits = self._logits(z.astype("float32"), batch_size)
                rec += self._log_px_given_z(xb, logits) / samples
            out.append(rec - kl)
        return np.concatenate(out)

    def _logits(self, z, batch_size):
        return batched(lambda b: self.decoder(b, training=False), z, batch_size).astype("float64")

    def log_likelihood(
        self, x, k: int = 200, seed: int = 0, batch_size: int = 2000, progress=None
    ) -> np.ndarray:
        """Per-example importance-sampled estimate of log p(x) (nats) with ``k`` samples from
        q(z|x): ``log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)``. A lower bound that tightens as
        k grows (k = 1 is the ELBO in expectation); ``k >= 200`` is the usual report.

        Args:
            x: images (n, h, w, c), as given (binarised for a Bernoulli likelihood).
            k: int. Importance samples per image.
            seed: int. Seed of the draws.
            batch_size: int. Decoder batch (images x samples per chunk).
            progress: optional callable ``(done, total)`` called after each image chunk.
        """
        x = check_images(x, self.image_shape).astype("float64")
        rng = np.random.default_rng(seed)
        per_chunk = max(1, batch_size // k)
        out = []
        for i in range(0, len(x), per_chunk):
            xb = x[i : i + per_chunk]
            mean, log_var = (np.asarray(a, "float64") for a in self.encode(xb))
            std = np.exp(0.5 * log_var)
            eps = rng.standard_normal((len(xb), k, self.latent_dim))
            z = mean[:, None] + std[:, None] * eps  # (m, k, d)
            logits = self._logits(z.reshape(-1, self.latent_dim).astype("float32"), batch_size)
            logits = logits.reshape(len(xb), k, *self.image_shape)
            log_px_z = self._log_px_given_z(xb[:, None], logits)  # (m, k)
            log_pz = -0.5 * np.sum(z**2 + _LOG_2PI, axis=-1)
            log_qz = -0.5 * np.sum(eps**2 + _LOG_2PI + log_var[:, None], axis=-1)
            w = log_px_z + log_pz - log_qz
            wmax = w.max(axis=1, keepdims=True)
            out.append(wmax[:, 0] + np.log(np.mean(np.exp(w - wmax), axis=1)))
            if progress is not None:
                progress(min(i + per_chunk, len(x)), len(x))
        return np.concatenate(out)

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood,
            "sigma": self.sigma,
            "beta": self.beta,
            "kl_warmup_steps": self.kl_warmup_steps,
            "binarize": self.binarize,
            "seed": self.seed,
            "prior_components": self.prior_components,
            **self.sub_model_configs(),
        }
