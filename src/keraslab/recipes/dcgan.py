"""Recipe ``dcgan``: train a DCGAN (optionally class-conditional), save grids and checkpoints,
report FID, KID and how recognisable the samples are.

``train`` -> run directory with ``config.json``, ``metrics.jsonl`` (losses, a fast FID and the
classifier scores per epoch), ``samples/epoch_NNN.png``, ``checkpoints/{last,best}.npz``,
``fid_curve.png`` and ``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from keraslab.data import get_dataset
from keraslab.engine import fastest_jit_compile
from keraslab.errors import UserError
from keraslab.models import DCGAN
from keraslab.models.gan import ARCHITECTURES
from keraslab.recipes.base import ImageConfig, ImageRecipe

# Learning rate of both Adam optimizers (beta_1 0.5) when --learning-rate is not given.
PRESET_LEARNING_RATE = {"dcgan": 1e-3, "lecture": 2e-4}


@dataclass
class Config(ImageConfig):
    """Settings of a DCGAN run (every one has a default; all are saved in config.json).

    The defaults are the `make run` budget on 2 CPU cores: the ``dcgan`` preset (BatchNorm
    DCGAN), Adam(1e-3, beta_1=0.5) for both networks, 10 epochs of 25,600 MNIST images at batch
    64 (4,000 updates; a subset rather than all 60,000 because TensorFlow's input pipeline
    costs 15% of the update rate on the full array, and 4,000 updates see 25,600 images ten
    times either way). ``--arch lecture`` is the course's v2 network with
    the earlier settings (Adam(2e-4, beta_1=0.5); the lecture's own Adam(1e-4) keeps the
    generator black for the first 450+ updates). ``DCGAN.compile()`` keeps Adam(1e-4).
    """

    epochs: int = 10
    subset: int | None = 25600
    learning_rate: float | None = None  # None: the preset's (PRESET_LEARNING_RATE)
    label_noise: float = 0.05
    conditional: bool = False  # class-conditional (labels into both networks; sample --label)
    arch: str = "dcgan"  # generator/discriminator preset: see keraslab.models.gan.ARCHITECTURES

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise UserError(
                f"unknown --arch {self.arch!r}: choose one of {', '.join(ARCHITECTURES)}."
            )
        if self.learning_rate is None:
            self.learning_rate = PRESET_LEARNING_RATE[self.arch]
        super().validate()


class DCGANRecipe(ImageRecipe):
    name = "dcgan"
    Config = Config

    def config_from_run(self, saved: dict) -> Config:
        # Runs made before presets existed used the lecture networks.
        return Config.from_dict({"arch": "lecture", **saved})

    def build_model(self, config: Config) -> DCGAN:
        info = get_dataset(config.dataset)
        model = DCGAN(
            image_shape=info.shape,
            latent_dim=config.latent_dim,
            label_noise=config.label_noise,
            num_classes=info.classes if config.conditional else None,
            seed=config.seed,
            arch=config.arch,
        )
        lr = config.learning_rate or PRESET_LEARNING_RATE[config.arch]
        model.compile(
            d_optimizer=keras.optimizers.Adam(lr, beta_1=config.beta_1),
            g_optimizer=keras.optimizers.Adam(lr, beta_1=config.beta_1),
            jit_compile=fastest_jit_compile(),
        )
        return model


RECIPE = DCGANRecipe()
NAME = RECIPE.name
train, resume, sample, evaluate = RECIPE.train, RECIPE.resume, RECIPE.sample, RECIPE.evaluate
build_model, load_model = RECIPE.build_model, RECIPE.load_model
format_evaluation = RECIPE.format_evaluation
