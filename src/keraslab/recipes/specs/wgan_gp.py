from __future__ import annotations

from dataclasses import dataclass

from keraslab.options import option
from keraslab.presets import GAN_ARCHITECTURES
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.images import GENERATOR_COMMANDS, ImageConfig


@dataclass
class Config(ImageConfig):
    """Settings of a WGAN-GP run (all saved in config.json).

    Defaults follow Gulrajani et al. (2017): 5 critic steps per generator step, penalty weight
    10, Adam(beta_1=0.5, beta_2=0.9); learning rate 2e-4 as in the Keras WGAN-GP example. The
    ``dcgan`` preset's networks (BatchNorm generator) reached a higher score than the course's
    (``--arch lecture``) after 5 epochs on two seeds, with epochs 10-20% shorter; 10 epochs
    (~14 minutes on 2 CPU cores) draw recognisable items, and the score levels off after them
    (BENCHMARKS.md).
    """

    dataset: str = option("fashion_mnist", "dataset name (see `keraslab list`)")
    epochs: int = option(10, "passes over the training images", positive=True)
    subset: int | None = option(
        12800,
        "train on this many images (12800)",
        positive=True,
        none_flag=("--full", "train on the whole train split"),
    )
    beta_2: float = option(0.9, "Adam beta_2", min=0, below=1)
    n_critic: int = option(5, "critic steps per generator step", positive=True)
    gp_weight: float = option(10.0, "gradient-penalty weight", min=0)
    conditional: bool = option(
        False, "class-conditional (labels into both networks; sample --label)"
    )
    arch: str = option(
        "dcgan",
        "generator preset: dcgan (BatchNorm) or lecture (the course's); the critic has no BatchNorm",
        choices=tuple(GAN_ARCHITECTURES),
    )


INFO = RecipeInfo(
    "wgan-gp",
    "keraslab.recipes.wgan_gp",
    "WGAN-GP (gradient penalty, n critic steps; --conditional for sample --label)",
    ("fashion_mnist", "mnist", "digits"),
    "fashion_mnist",
    Config,
    GENERATOR_COMMANDS,
    # a tf.function (no XLA), fed as the recipe feeds it: 1.54x a plain PyTorch loop's steps/s
    # (torch: 0.91x; benchmarks/wgan_gp_step.py, BENCHMARKS.md)
    default_backend="tensorflow",
)
