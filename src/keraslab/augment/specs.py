"""The settings of ``keraslab augment images|text|table``, declared once (Keras-free: the CLI
reads them before it chooses a backend). The same classes are the Python API's settings:
``ImagePipeline(rotate=0.1)`` configures :func:`keraslab.augment.image.image_augmenter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import Settings, option, seed_option

MAX_COPIES = 100  # augmented copies per input (images, sentences)


@dataclass
class ImagePipeline(Settings):
    """A pipeline of Keras image preprocessing layers (each left out at 0 / "none"). The default
    is a horizontal flip and a shift of up to 10%, the setting that helped in our measurement."""

    flip: str = option(
        "horizontal", "random flips", choices=("none", "horizontal", "vertical", "both")
    )
    translate: float = option(0.1, "largest shift, a fraction of height and width", min=0, max=1)
    # Off by default: on 1,000 Fashion-MNIST images flip + shift gain 1.2 points of test
    # accuracy and adding rotation 0.03, zoom 0.1 and contrast 0.1 loses 1.6 (BENCHMARKS.md).
    rotate: float = option(0.0, "largest rotation, a fraction of a full turn", min=0, max=0.5)
    zoom: float = option(0.0, "largest zoom in or out, a fraction", min=0, below=1)
    contrast: float = option(0.0, "largest contrast change, a fraction", min=0, max=1)
    brightness: float = option(0.0, "largest brightness change, a fraction", min=0, max=1)
    fill: str = option(
        "reflect",
        "how shifts, rotations and zooms fill the border (constant: black)",
        choices=("reflect", "constant", "nearest", "wrap"),
    )


@dataclass
class AugmentImagesOptions(ImagePipeline):
    out: str = option(None, "folder to write the augmented images to", required=True,
                      metavar="DIR", output="dir")  # fmt: skip
    n: int = option(5, "augmented copies of each image", positive=True, max=MAX_COPIES)
    preview: str | None = option(
        None, "also save a grid: originals in the first column, copies beside",
        metavar="GRID.png", output="file",
    )  # fmt: skip
    seed: int = seed_option(0)

    def validate(self) -> None:
        super().validate()
        if self.preview is not None and not self.preview.lower().endswith(".png"):
            raise UserError(f"--preview must end in .png, got {self.preview}.")


@dataclass
class EDARates(Settings):
    """Easy Data Augmentation (Wei & Zou, 2019): each rate is the fraction of a sentence's
    words changed by that operation (0 leaves it out; all 0 is the identity)."""

    synonyms: float = option(0.1, "replace words by a WordNet synonym", min=0, max=1)
    insert: float = option(0.1, "insert synonyms of words at random places", min=0, max=1)
    swap: float = option(0.1, "swap two words", min=0, max=1)
    delete: float = option(0.1, "delete each word with this probability", min=0, max=1)


@dataclass
class AugmentTextOptions(EDARates):
    out: str = option(None, "file to write: one augmented sentence per line", required=True,
                      metavar="FILE.txt", output="file")  # fmt: skip
    method: str = option(
        "eda",
        "eda (the rates below) or backtranslate (through --forward and back through --back)",
        choices=("eda", "backtranslate"),
    )
    n: int = option(4, "augmented copies of each sentence", positive=True, max=MAX_COPIES)
    keep: bool = option(False, "also write each original sentence before its copies")
    seed: int = seed_option(0)
    forward: str | None = option(
        None, "backtranslate: a translator run into the pivot language (en-es)", metavar="RUN"
    )
    back: str | None = option(
        None, "backtranslate: a translator run back (--direction es-en)", metavar="RUN"
    )
    decode: str = option("greedy", "backtranslate: decoding", choices=("greedy", "beam"))

    def validate(self) -> None:
        super().validate()
        if self.method == "backtranslate":
            if not (self.forward and self.back):
                raise UserError(
                    "--method backtranslate needs --forward RUN (e.g. en-es) and --back RUN "
                    "(es-en): train them with `keraslab train translator [--direction es-en]`."
                )
            if self.n != 1:
                raise UserError(
                    f"--method backtranslate gives one paraphrase per sentence (its decoding is "
                    f"deterministic): use --n 1, not --n {self.n}."
                )


@dataclass
class AugmentTableOptions(Settings):
    target: str = option(None, "the class column", required=True, metavar="COLUMN")
    out: str = option(
        None, "the balanced CSV to write", required=True, metavar="FILE.csv", output="file"
    )
    method: str = option(
        "smote",
        "smote (numeric columns), smotenc (numeric and categorical), adasyn (numeric); vae, gan "
        "(a conditional tabular VAE or WGAN-GP on keraslab's engine; any column types)",
        choices=("smote", "smotenc", "adasyn", "vae", "gan"),
    )
    k: int = option(5, "nearest neighbours of each synthetic sample", positive=True, max=100)
    epochs: int | None = option(
        None,
        "vae, gan: training epochs (default: about 2,000 / 3,000 updates)",
        positive=True,
        max=100_000,
    )
    seed: int = seed_option(0)


SUBCOMMANDS = {
    "images": (AugmentImagesOptions, "DIR", "a folder of images (PNG/JPEG, subfolders kept)"),
    "text": (AugmentTextOptions, "FILE.txt", "UTF-8 text, one sentence per line"),
    "table": (AugmentTableOptions, "FILE.csv", "a CSV with a header row"),
}
