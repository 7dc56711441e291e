"""Recipe ``dcgan``: train a DCGAN (optionally class-conditional), save grids and checkpoints,
report FID, KID and how recognisable the samples are.

``train`` -> run directory with ``config.json``, ``metrics.jsonl`` (losses, a fast FID and the
classifier scores per epoch), ``samples/epoch_NNN.png``, ``checkpoints/{last,best}.npz``,
``fid_curve.png`` and ``summary.json``. Settings: :mod:`keraslab.recipes.specs.dcgan`.
"""

from __future__ import annotations

import keras

from keraslab.data import get_dataset
from keraslab.engine import fastest_jit_compile
from keraslab.models import DCGAN
from keraslab.recipes.images import ImageRecipe
from keraslab.recipes.specs.dcgan import PRESET_LEARNING_RATE, Config


class DCGANRecipe(ImageRecipe):
    name = "dcgan"
    Config = Config
    saved_defaults = {"arch": "lecture"}  # runs made before presets existed

    def build_model(self, config: Config, assets=None, data=None) -> DCGAN:
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
