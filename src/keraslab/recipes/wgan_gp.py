"""Recipe ``wgan-gp``: WGAN-GP (optionally class-conditional) on 28x28 grayscale images, with
grids, checkpoints, a fast FID per epoch and FID/KID at the end.

Defaults follow Gulrajani et al. (2017): 5 critic steps per generator step, penalty weight 10,
Adam(beta_1=0.5, beta_2=0.9); learning rate 2e-4 as in the Keras WGAN-GP example.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from keraslab.data import get_dataset
from keraslab.errors import UserError
from keraslab.models import WGANGP
from keraslab.models.gan import ARCHITECTURES
from keraslab.recipes.base import ImageConfig, ImageRecipe


@dataclass
class Config(ImageConfig):
    """Settings of a WGAN-GP run (all saved in config.json)."""

    dataset: str = "fashion_mnist"
    epochs: int = 5
    subset: int | None = 12800
    beta_2: float = 0.9
    n_critic: int = 5
    gp_weight: float = 10.0
    conditional: bool = False
    arch: str = "lecture"  # generator preset: lecture or dcgan (keraslab.models.gan.ARCHITECTURES)

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise UserError(
                f"unknown --arch {self.arch!r}: choose one of {', '.join(ARCHITECTURES)}."
            )
        super().validate()
        if int(self.n_critic) < 1:
            raise UserError(f"--n-critic must be a positive integer, got {self.n_critic}.")
        if self.gp_weight < 0:
            raise UserError(f"--gp-weight must be >= 0, got {self.gp_weight}.")
        if not 0.0 <= self.beta_2 < 1.0:
            raise UserError(f"--beta-2 must be in [0, 1), got {self.beta_2}.")


class WGANGPRecipe(ImageRecipe):
    name = "wgan-gp"
    Config = Config

    def build_model(self, config: Config) -> WGANGP:
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
NAME = RECIPE.name
train, resume, sample, evaluate = RECIPE.train, RECIPE.resume, RECIPE.sample, RECIPE.evaluate
build_model, load_model = RECIPE.build_model, RECIPE.load_model
format_evaluation = RECIPE.format_evaluation
