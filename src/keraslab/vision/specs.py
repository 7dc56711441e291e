"""The settings of ``keraslab visualize filters|class|saliency``, ``keraslab style-transfer``
and ``keraslab plot``, declared once (Keras-free: the CLI reads them before it chooses a
backend). MODEL is a run folder, a ``.keras`` file or ``efficientnet-lite0``.
"""

from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import Settings, option, seed_option

PRETRAINED = ("efficientnet-lite0",)
MAX_FILTERS = 256


@dataclass
class PngOutput(Settings):
    """A command that writes one PNG picture (``--out``)."""

    out: str = option(None, "the PNG to write", required=True, metavar="FILE.png", output="new")

    def validate(self) -> None:
        super().validate()
        if self.out is not None and not self.out.lower().endswith(".png"):
            raise UserError(f"--out must end in .png, got {self.out}.")


@dataclass
class AscentOptions(PngOutput):
    """Gradient ascent on the input (Olah et al., 2017, "Feature Visualization")."""

    steps: int = option(256, "gradient steps", positive=True, max=100_000)
    learning_rate: float = option(0.05, "step size (Adam on the image's logits)", above=0, max=100)
    optimizer: str = option(
        "adam", "adam, or normalized (steps of fixed size: g / rms(g))",
        choices=("adam", "normalized"),
    )  # fmt: skip
    size: int | None = option(None, "image side in pixels (default: the model's input, else 128)",
                              positive=True, max=1024)  # fmt: skip
    jitter: int = option(4, "random shift of up to this many pixels each step", min=0, max=64)
    decorrelate: str = option(
        "yes", "optimise decorrelated colours (ImageNet colour covariance)", choices=("yes", "no")
    )
    parameterization: str = option(
        "fourier", "fourier (a 1/f-scaled spectrum: smoother pictures) or pixel",
        choices=("fourier", "pixel"),
    )  # fmt: skip
    seed: int = seed_option(0)


@dataclass
class FiltersOptions(AscentOptions):
    layer: str = option(None, "the convolution layer (an unknown name lists them)", required=True,
                        metavar="NAME")  # fmt: skip
    n: int = option(16, "filters drawn: the first N of the layer", positive=True, max=MAX_FILTERS)


@dataclass
class ClassOptions(AscentOptions):
    class_index: int = option(None, "the output class to maximise", min=0, max=100_000,
                              flag="--class", required=True, metavar="K")  # fmt: skip
    n: int = option(4, "images from different random starts", positive=True, max=64)


@dataclass
class SaliencyOptions(PngOutput):
    out: str = option(None, "the PNG to write: image | saliency", required=True,
                      metavar="FILE.png", output="new")  # fmt: skip
    image: str = option(None, "the image (PNG/JPEG, or skimage:NAME)", required=True,
                        metavar="IMAGE")  # fmt: skip
    class_index: int | None = option(None, "the class (default: the top class)", min=0,
                                     max=100_000, flag="--class", metavar="K")  # fmt: skip


@dataclass
class StyleTransferOptions(PngOutput):
    steps: int = option(400, "optimisation steps", positive=True, max=100_000)
    size: int = option(256, "side of the result in pixels (images are resized and cropped)",
                       min=32, max=1024)  # fmt: skip
    learning_rate: float = option(0.02, "Adam's step on the image's logits", above=0, max=10)
    content_weight: float = option(1.0, "weight of the content loss", min=0, max=1e9)
    style_weight: float = option(100.0, "weight of the style (Gram matrix) loss", min=0, max=1e9)
    tv_weight: float = option(0.5, "weight of the total-variation loss", min=0, max=1e9)
    every: int = option(100, "save an intermediate image every N steps (0: none)", min=0,
                        max=100_000)  # fmt: skip


@dataclass
class PlotOptions(PngOutput):
    expand_nested: bool = option(False, "draw the layers inside nested models")
    show_shapes: bool = option(False, "label each layer with its output shape")
