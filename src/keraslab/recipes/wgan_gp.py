"""Recipe ``wgan-gp``: WGAN-GP (optionally class-conditional) on 28x28 grayscale images, with
grids, checkpoints, a fast FID per epoch and FID/KID at the end. Settings (Gulrajani et al.'s
defaults): :mod:`keraslab.recipes.specs.wgan_gp`.
"""

from __future__ import annotations

import keras

from keraslab.data import get_dataset
from keraslab.models import WGANGP
from keraslab.recipes.images import ImageRecipe
from keraslab.recipes.specs.wgan_gp import Config


class WGANGPRecipe(ImageRecipe):
    name = "wgan-gp"
    Config = Config
    saved_defaults = {"arch": "lecture"}  # runs made before the dcgan preset was the default

    def build_model(self, config: Config, assets=None, data=None) -> WGANGP:
        info = get_dataset(config.dataset)
        model = WGANGP(
            image_shape=info.shape,
            latent_dim=config.latent_dim,
            n_critic=config.n_critic,
            gp_weight=config.gp_weight,
            num_classes=info.classes if config.conditional else None,
            seed=config.seed,
            arch=config.arch,
        )

        def adam():
            return keras.optimizers.Adam(
                config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2
            )

        model.compile(critic_optimizer=adam(), g_optimizer=adam())
        return model


RECIPE = WGANGPRecipe()
