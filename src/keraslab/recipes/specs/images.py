"""Settings every image recipe has (each recipe's spec adds its own)."""

from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import Settings, option, seed_option
from keraslab.recipes.specs.commands import (
    ExportOptions,
    ImageEvaluateOptions,
    SampleOptions,
)

# The commands of a generator's run.
GENERATOR_COMMANDS = {
    "sample": SampleOptions,
    "evaluate": ImageEvaluateOptions,
    "export": ExportOptions,
}
IMAGE_DATASETS = ("mnist", "fashion_mnist", "digits")


@dataclass
class ImageConfig(Settings):
    """Settings every image recipe has (all saved in config.json)."""

    dataset: str = option("mnist", "dataset name (see `keraslab list`)")
    epochs: int = option(5, "passes over the training images", positive=True)
    batch_size: int = option(64, "images per update", positive=True)
    subset: int | None = option(
        None,
        "train on this many images (default: the recipe's; none: the whole train split)",
        positive=True,
        none_flag=("--full", "train on the whole train split"),
    )
    latent_dim: int = option(64, "size of the latent code", positive=True)
    learning_rate: float = option(2e-4, "Adam learning rate", above=0)
    beta_1: float = option(0.5, "Adam beta_1 (of both optimizers)", min=0, below=1)
    seed: int = seed_option(0, "random seed (weights, data order, noise)")
    precision: str = option(
        "float32",
        "float32, or bfloat16: mixed precision, bf16 compute with float32 weights (faster only "
        "on CPUs with native bf16, AVX512-BF16/AMX, and on accelerators)",
        choices=("float32", "bfloat16"),
    )
    grid: int = 64  # images in each samples/epoch_NNN.png
    fid_samples: int = 2000  # generated images for the per-epoch fast FID
    final_samples: int = 10000  # generated images for the final fast FID/KID in summary.json

    _positive = ("grid", "fid_samples", "final_samples")

    def validate(self) -> None:
        if self.dataset not in IMAGE_DATASETS:
            raise UserError(
                f"unknown dataset {self.dataset!r}: choose one of {', '.join(IMAGE_DATASETS)}."
            )
        super().validate()
