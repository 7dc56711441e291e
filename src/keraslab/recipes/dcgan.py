"""Recipe ``dcgan``: train the lecture's DCGAN (optionally class-conditional), save grids and
checkpoints, report FID and KID.

``train`` -> run directory with ``config.json``, ``metrics.jsonl`` (losses and a fast FID per
epoch), ``samples/epoch_NNN.png``, ``checkpoints/{last,best}.npz``, ``fid_curve.png`` and
``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from keraslab.data import get_dataset
from keraslab.models import DCGAN
from keraslab.recipes.base import ImageConfig, ImageRecipe


@dataclass
class Config(ImageConfig):
    """Settings of a DCGAN run (every one has a default; all are saved in config.json).

    The defaults are the `make run` budget, about 10 minutes on 2 CPU cores with the torch
    backend: 6,400 MNIST images x 6 epochs at batch 64 (600 updates). The optimizer is the DCGAN
    paper's Adam(2e-4, beta_1=0.5): with the lecture's Adam(1e-4) the generator stays black
    for the first 450+ updates (measured), too slow for this budget. ``DCGAN.compile()`` itself
    keeps the lecture's Adam(1e-4).
    """

    epochs: int = 6
    subset: int | None = 6400
    label_noise: float = 0.05
    conditional: bool = False  # class-conditional (labels into both networks; sample --label)


class DCGANRecipe(ImageRecipe):
    name = "dcgan"
    Config = Config

    def build_model(self, config: Config) -> DCGAN:
        info = get_dataset(config.dataset)
        model = DCGAN(
            image_shape=info.shape,
            latent_dim=config.latent_dim,
            label_noise=config.label_noise,
            num_classes=info.classes if config.conditional else None,
            seed=config.seed,
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
            g_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
        )
        return model


RECIPE = DCGANRecipe()
NAME = RECIPE.name
train, resume, sample, evaluate = RECIPE.train, RECIPE.resume, RECIPE.sample, RECIPE.evaluate
build_model, load_model = RECIPE.build_model, RECIPE.load_model
format_evaluation = RECIPE.format_evaluation
