"""The commands that are not one recipe's (``augment``, ``visualize``, ``style-transfer``,
``plot``, ``report``, ``compare``), declared once: their inputs, options and the function that
does the work. The CLI generates their parsers from these declarations, and the bad-value tests
are generated from them too. Keras-free: importing this chooses no backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from keraslab.augment.specs import SUBCOMMANDS as AUGMENT
from keraslab.cli.report import CompareOptions, ReportOptions
from keraslab.vision import specs as vision


@dataclass(frozen=True)
class Tool:
    """One command (or one kind of a command, ``visualize filters``).

    Args:
        options: the :class:`~keraslab.options.Settings` class of its flags.
        inputs: ``(metavar, help)`` of each positional input.
        what: one line of help.
        run: ``"module:function"`` called as ``function(*inputs, options)`` after the backend is
            chosen; it returns the path it wrote (printed).
        backend: the backend used when none is chosen (measured fastest for the work); None:
            the command needs no Keras (no ``--backend``).
        many: the last input takes one or more values (``compare RUN1 RUN2 ...``).
    """

    options: type
    inputs: tuple[tuple[str, str], ...]
    what: str
    run: str | None = None
    backend: str | None = "torch"
    many: bool = False


_MODEL = ("MODEL", "a run folder, a .keras file, or efficientnet-lite0 (ImageNet)")

TOOLS: dict[str, dict[str, Tool] | Tool] = {
    "augment": {
        kind: Tool(options, ((metavar, what),), what, backend="tensorflow")
        for kind, (options, metavar, what) in AUGMENT.items()
    },
    "visualize": {
        "filters": Tool(
            vision.FiltersOptions,
            (_MODEL,),
            "images that excite filters of a convolution layer (gradient ascent)",
            "keraslab.cli.vision:filters",
        ),  # fmt: skip
        "class": Tool(
            vision.ClassOptions,
            (_MODEL,),
            "images that maximise one class's logit",
            "keraslab.cli.vision:class_images",
        ),  # fmt: skip
        "saliency": Tool(
            vision.SaliencyOptions,
            (_MODEL,),
            "an image beside the gradient of its class score (saliency map)",
            "keraslab.cli.vision:saliency_map",
        ),  # fmt: skip
    },
    "style-transfer": Tool(
        vision.StyleTransferOptions,
        (
            ("CONTENT", "the content image (PNG/JPEG, or skimage:NAME, e.g. skimage:chelsea)"),
            ("STYLE", "the style image (PNG/JPEG, or skimage:NAME, e.g. skimage:brick)"),
        ),
        "neural style transfer (Gatys et al.) with EfficientNet-Lite0 features",
        "keraslab.cli.vision:style_transfer",
    ),  # fmt: skip
    "plot": Tool(
        vision.PlotOptions,
        (_MODEL,),
        "draw a model's diagram (keras plot_model)",
        "keraslab.cli.vision:plot",
    ),  # fmt: skip
    "report": Tool(
        ReportOptions,
        (("RUN", "a run folder made by `keraslab train`"),),
        "rebuild RUN/report.html",
        "keraslab.cli.report:report_command",
        backend=None,
    ),
    "compare": Tool(
        CompareOptions,
        (("RUN", "two or more run folders"),),
        "compare runs on one page",
        "keraslab.cli.report:compare_command",
        backend=None,
        many=True,
    ),
}


def tools():
    """Every ``(command, kind or None, Tool)``."""
    for command, entry in TOOLS.items():
        if isinstance(entry, Tool):
            yield command, None, entry
        else:
            for kind, tool in entry.items():
                yield command, kind, tool
