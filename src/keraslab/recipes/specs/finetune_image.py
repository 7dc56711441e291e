from __future__ import annotations

from dataclasses import dataclass

from keraslab.options import Settings, dropout_option, option, seed_option
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import NoOptions


@dataclass
class Config(Settings):
    """Settings of a finetune-image run (all saved in config.json)."""

    dataset: str = option("fashion_mnist", "dataset name (ignored with --images)")
    images: str | None = option(
        None, "your folder of images root/class_name/*.jpg", path=True, metavar="FOLDER"
    )
    weights: str | None = option(
        None,
        "your EfficientNet-Lite0 .weights.h5 (default: the package's)",
        path=True,
        metavar="FILE",
    )
    image_size: int = option(96, "pixels (224 is the network's own; 96 is 5x cheaper)", min=32)
    subset: int | None = option(2000, "training images of the built-in data sets", min=10)
    test_images: int = option(1000, "test images of the built-in data sets", positive=True)
    epochs: int = option(2, "stage 1 epochs: the head", positive=True)
    fine_tune_epochs: int = option(2, "stage 2 epochs: the top blocks too", min=0)
    unfreeze_blocks: int = option(2, "top blocks trained in stage 2", min=0, max=16)
    learning_rate: float = option(1e-3, "stage-1 Adam rate", above=0)
    fine_tune_learning_rate: float = option(1e-5, "stage-2 Adam rate", above=0)
    batch_size: int = option(32, "images per update", positive=True)
    dropout: float = dropout_option(0.2, "dropout rate of the head")
    augment: str = option(
        "none",
        "augment every training batch: default is keraslab augment's default pipeline "
        "(horizontal flip, shift up to 10%)",
        choices=("none", "default"),
    )
    seed: int = seed_option()


INFO = RecipeInfo(
    "finetune-image",
    "keraslab.recipes.finetune_image",
    "pretrained EfficientNet-Lite0 + new head, then the top blocks at a low rate (--images DIR)",
    ("fashion_mnist", "mnist", "digits"),
    "fashion_mnist",
    Config,
    {"evaluate": NoOptions},
    resumable=False,
)
