from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import option
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import (
    ExportOptions,
    ReconstructionEvaluateOptions,
    SampleOptions,
)
from keraslab.recipes.specs.images import IMAGE_DATASETS, ImageConfig

LOSSES = {"bce": "binary_crossentropy", "mse": "mean_squared_error"}
NOISES = ("none", "gaussian", "masking")


@dataclass
class Config(ImageConfig):
    """Settings of an autoencoder run (all saved in config.json)."""

    epochs: int = option(5, "passes over the training images", positive=True)
    batch_size: int = option(128, "images per update", positive=True)
    latent_dim: int = option(16, "size of the code", positive=True)
    learning_rate: float = option(1e-3, "Adam learning rate", above=0)
    beta_1: float = option(0.9, "Adam beta_1", min=0, below=1)
    kind: str = option("conv", "network", choices=("conv", "dense"))
    noise: str = option("none", "denoising: noise added to the inputs", choices=NOISES)
    noise_amount: float = option(0.3, "noise std (gaussian) or fraction (masking)")
    loss: str = option("bce", "reconstruction loss", choices=tuple(LOSSES))

    def validate(self) -> None:
        super().validate()
        a = self.noise_amount
        if self.noise == "gaussian" and a < 0:
            raise UserError(f"--noise-amount: gaussian noise needs amount >= 0, got {a}.")
        if self.noise == "masking" and not 0.0 <= a < 1.0:
            raise UserError(f"--noise-amount: masking noise needs amount in [0, 1), got {a}.")


INFO = RecipeInfo(
    "autoencoder",
    "keraslab.recipes.autoencoder",
    "dense or conv autoencoder, optionally denoising; 2-D code scatter plot",
    IMAGE_DATASETS,
    "mnist",
    Config,
    {"sample": SampleOptions, "evaluate": ReconstructionEvaluateOptions, "export": ExportOptions},
)
