"""Reusable models (each usable in your own ``fit()`` on any backend)."""

from keraslab.models.asset_pricing import CAEnsemble, ConditionalAutoencoder
from keraslab.models.autoencoder import Autoencoder
from keraslab.models.gan import DCGAN, ImageGAN, build_discriminator, build_generator
from keraslab.models.vae import VAE, build_vae_decoder, build_vae_encoder, gaussian_kl
from keraslab.models.wgan import WGANGP, build_critic, gradient_penalty

__all__ = [
    "DCGAN",
    "VAE",
    "WGANGP",
    "Autoencoder",
    "CAEnsemble",
    "ConditionalAutoencoder",
    "ImageGAN",
    "build_critic",
    "build_discriminator",
    "build_generator",
    "build_vae_decoder",
    "build_vae_encoder",
    "gaussian_kl",
    "gradient_penalty",
]

import keraslab  # noqa: E402

keraslab._register_keras_classes(done=__name__)  # if Keras came in through this package
