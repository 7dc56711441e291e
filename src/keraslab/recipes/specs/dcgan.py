from __future__ import annotations

from dataclasses import dataclass

from keraslab.options import option
from keraslab.presets import GAN_ARCHITECTURES
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.images import GENERATOR_COMMANDS, IMAGE_DATASETS, ImageConfig

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

    epochs: int = option(10, "passes over the training images", positive=True)
    subset: int | None = option(
        25600,
        "train on this many images (25600)",
        positive=True,
        none_flag=("--full", "train on the whole train split"),
    )
    learning_rate: float | None = option(
        None,
        "Adam learning rate of both networks (the preset's: dcgan 1e-3, lecture 2e-4)",
        above=0,
    )
    label_noise: float = 0.05
    conditional: bool = option(
        False, "class-conditional (labels into both networks; sample --label)"
    )
    arch: str = option(
        "dcgan",
        "network preset: dcgan (BatchNorm) or lecture (the course's)",
        choices=tuple(GAN_ARCHITECTURES),
    )

    def validate(self) -> None:
        if self.arch in PRESET_LEARNING_RATE and self.learning_rate is None:
            self.learning_rate = PRESET_LEARNING_RATE[self.arch]
        super().validate()


INFO = RecipeInfo(
    "dcgan",
    "keraslab.recipes.dcgan",
    "DCGAN (--arch dcgan: BatchNorm, default; lecture: the course's v2) on 28x28 images; "
    "FID/KID and recognisability scores",
    IMAGE_DATASETS,
    "mnist",
    Config,
    GENERATOR_COMMANDS,
    default_backend="tensorflow",  # with XLA: 1.3x the torch backend's updates/s (BENCHMARKS.md)
)
