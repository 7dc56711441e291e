"""The options of the commands on a run (``keraslab sample|evaluate|export|translate|generate|
classify RUN``), declared once as dataclasses; a recipe's :class:`RecipeInfo` names the ones it
offers. Field names are the keyword arguments of the recipe's method of the same name."""

from __future__ import annotations

from dataclasses import dataclass

from keraslab.options import Settings, option, seed_option

MAX_SAMPLES = 100_000  # `sample --n` upper bound (100k MNIST images are 314 MB as float32)


@dataclass
class CheckpointOptions(Settings):
    which: str = option(
        "last",
        "the newest checkpoint or the best one",
        choices=("last", "best"),
        flag="--checkpoint",
    )


@dataclass
class NoOptions(Settings):
    """A command that takes nothing but the run."""


@dataclass
class SampleOptions(CheckpointOptions):
    n: int = option(64, "images", positive=True, max=MAX_SAMPLES)
    out: str | None = option(
        None,
        "X.png: a grid; X.npy: the raw images (n, h, w, c) float32 in [0, 1] and the grid X.png "
        "(default RUN/sample-<checkpoint>-seed<seed>.png)",
        output="file",
    )
    seed: int = seed_option(0, "random seed of the latents")
    force: bool = option(False, "overwrite --out if it exists")
    label: int | None = option(None, "class of every image (conditional runs)")
    latents: str | None = option(None, "generate from these latent vectors", metavar="FILE.npy")
    images: str | None = option(
        None, "autoencoder, vae: reconstruct these images", metavar="FILE.npy"
    )


@dataclass
class ExportOptions(CheckpointOptions):
    out: str | None = option(
        None, "the .keras file to write", metavar="FILE.keras", required=True, output="keras"
    )
    force: bool = option(False, "overwrite --out if it exists")


@dataclass
class ImageEvaluateOptions(CheckpointOptions):
    extractor: str = option(
        "classifier",
        "feature network: keraslab's fast domain classifier or the standard InceptionV3 "
        "(published-comparable; ~8 images/s on 2 CPU cores)",
        choices=("classifier", "inception"),
    )
    n: int = option(10000, "generated images", positive=True)


@dataclass
class VAEEvaluateOptions(ImageEvaluateOptions):
    k: int | None = option(None, "importance samples per image (the run's, 200)", positive=True)
    ll_images: int | None = option(None, "test images for the NLL (the run's, 1000)", positive=True)


@dataclass
class ReconstructionEvaluateOptions(CheckpointOptions):
    n: int = option(10000, "test images", positive=True)


@dataclass
class TextsEvaluateOptions(CheckpointOptions):
    n: int | None = option(None, "test texts (default all)", positive=True)


@dataclass
class DecodeOptions(CheckpointOptions):
    method: str = option("greedy", "decoding", choices=("greedy", "beam"))
    beam_width: int = option(4, "beams", positive=True)
    length_penalty: float = option(0.6, "beam: GNMT length penalty alpha", min=0)


@dataclass
class TranslatorEvaluateOptions(DecodeOptions):
    n: int | None = option(None, "test sentences (default all)", positive=True)


@dataclass
class TranslateOptions(DecodeOptions):
    use_cache: bool = option(True, "decode without the key/value cache", flag="--no-cache")
    truncate: bool = option(
        False,
        "cut sentences longer than the model's maximum (with a warning) instead of failing",
    )


@dataclass
class GenerateOptions(CheckpointOptions):
    prompt: str | None = option(None, "text to continue", required=True)
    max_tokens: int = option(
        200, "tokens generated", positive=True, max=100_000, flag="--new-tokens",
        aliases=("--max-tokens",),
    )  # fmt: skip
    temperature: float = option(0.8, "0 greedy; <1 sharper; >1 flatter", min=0)
    top_k: int | None = option(None, "sample among the k most likely tokens", positive=True)
    top_p: float | None = option(None, "nucleus sampling: smallest set with mass p", above=0, max=1)
    seed: int = seed_option()
    n: int = option(1, "continuations", positive=True, max=1000)
    use_cache: bool = option(True, "re-read the window every step", flag="--no-cache")


@dataclass
class EmbedOptions(CheckpointOptions):
    layer: str = option(
        "mean",
        "mean: the average of the L + 1 layers; all: every layer (an axis more); "
        "0 .. L: one layer (0: the token embedding)",
    )
    out: str | None = option(
        None, "save the vectors (texts, tokens, dim) here instead of printing them",
        metavar="X.npy", output="new",
    )  # fmt: skip
    force: bool = option(False, "overwrite --out if it exists")

    def validate(self) -> None:
        super().validate()
        from keraslab.errors import UserError

        if self.layer not in ("mean", "all") and not self.layer.isdigit():
            raise UserError(f"--layer {self.layer!r}: give mean, all or a layer number 0 .. L.")
        if self.out is not None and not self.out.endswith(".npy"):
            raise UserError(f"--out {self.out}: the vectors are saved as .npy; name it X.npy.")
