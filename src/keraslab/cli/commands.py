"""Every ``keraslab`` command, declared once: its help, what it takes (a recipe, a run, files,
text on standard input), its options, its default backend, the function that does the work and
how its result is printed. :mod:`keraslab.cli.dispatch` generates the parsers from
:data:`COMMANDS` and runs them through one dispatcher; the bad-value tests are generated from the
same table. Adding a command is one entry here (and its function).

Keras-free: importing this chooses no backend.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from keraslab.augment import specs as augment
from keraslab.cli import augment as augment_work
from keraslab.cli.report import CompareOptions, ReportOptions
from keraslab.vision import specs as vision


@dataclass(frozen=True)
class Command:
    """One command (or one kind of a command: ``visualize filters``).

    Args:
        help: one line for ``keraslab --help`` and the command's own help.
        takes: what it works on: ``"recipe"`` (``train``), ``"run"`` (a run folder: the options
            come from the run's recipe, which does the work in its method of the command's
            name), ``"inputs"`` (the positional ``inputs``, with ``options``) or ``"nothing"``.
        inputs: ``(metavar, help)`` of each positional input (``takes="inputs"``).
        options: the :class:`~keraslab.options.Settings` class of its flags
            (``takes="inputs"``; a run's come from its recipe's ``RecipeInfo.commands``). Where
            an option writes is checked from its ``output`` metadata before any work.
        run: ``"module:function"`` called as ``function(*inputs, options)`` after the backend is
            chosen; what it returns, when not None, is printed (a path, a line).
        backend: the backend used when none is chosen (measured fastest for the work), a
            function of the options giving it, or None: no Keras (no ``--backend``).
        run_option: the option naming a run whose backend comes before ``KERAS_BACKEND`` and
            ``backend`` (as for a command on a run).
        many: the last input takes one or more values (``compare RUN1 RUN2 ...``).
        text: a command on a run that also reads text: what the texts are (the arguments after
            RUN, or lines of standard input).
        saves_to_run: writes its result into the run folder (checked writable first).
        warns: its function takes ``warn=`` (one-line warnings on stderr).
        show: how a command on a run prints its result (see :data:`SHOW`).
        kinds: the kinds of a command with several (``augment images|text|table``).
    """

    help: str
    takes: str = "inputs"
    inputs: tuple[tuple[str, str], ...] = ()
    options: type | None = None
    run: str | None = None
    backend: str | Callable | None = "torch"
    run_option: str | None = None
    many: bool = False
    text: str | None = None
    saves_to_run: bool = False
    warns: bool = False
    show: str = "path"
    kinds: dict[str, Command] = field(default_factory=dict)

    def default_backend(self, options) -> str | None:
        return self.backend(options) if callable(self.backend) else self.backend


# ---- how a command on a run prints its result ----------------------------------------------
def _show_path(result, recipe, inputs, values) -> None:
    print(result)


def _show_evaluation(result, recipe, inputs, values) -> None:
    print(recipe.format_evaluation(result))


def _show_lines(result, recipe, inputs, values) -> None:
    print("\n".join(result))


def _show_texts(result, recipe, inputs, values) -> None:
    for i, text in enumerate(result):
        if len(result) > 1:
            print(f"--- {i + 1} ---")
        print(text)


def _show_labels(result, recipe, inputs, values) -> None:
    for text, (label, p) in zip(inputs[0], result):
        print(f"{label}\t{p:.3f}\t{text}")


def _show_vectors(result, recipe, inputs, values) -> None:
    """``embed``: the file written, or one line per token: the token, then its vector."""
    tokens, vectors = result
    if isinstance(vectors, str):
        n, longest = len(tokens), max((len(t) for t in tokens), default=0)
        print(
            f"wrote {vectors}: {n} text(s), up to {longest} tokens each (zeros after a text's end)"
        )
        return
    for i, row in enumerate(tokens):
        if len(tokens) > 1:
            print(f"--- {i + 1} ---")
        for j, token in enumerate(row):
            v = vectors[i, :, j] if values["layer"] == "all" else vectors[i, j]
            print(repr(token) + "\t" + " ".join(f"{x:.4f}" for x in v.ravel()))


SHOW = {
    "path": _show_path,
    "evaluation": _show_evaluation,
    "lines": _show_lines,
    "texts": _show_texts,
    "labels": _show_labels,
    "vectors": _show_vectors,
}


def warn(message: str) -> None:
    print(f"keraslab: {message}", file=sys.stderr)


# ---- the commands ----------------------------------------------------------------------------
_MODEL = ("MODEL", "a run folder, a .keras file, or efficientnet-lite0 (ImageNet)")
_RUN = ("RUN", "a run folder made by `keraslab train`")


def _augment(kind: str, backend, run_option=None) -> Command:
    options, metavar, what = augment.SUBCOMMANDS[kind]
    return Command(
        what, inputs=((metavar, what),), options=options, run=f"keraslab.cli.augment:{kind}",
        backend=backend, run_option=run_option,
    )  # fmt: skip


COMMANDS: dict[str, Command] = {
    "train": Command("train a recipe (or --resume a run)", takes="recipe"),
    "sample": Command("save a grid of generated images from a run", takes="run"),
    "evaluate": Command(
        "score a run on its test split (FID/KID, NLL, BLEU/chrF, perplexity, macro-F1, ...)",
        takes="run",
        saves_to_run=True,
        show="evaluation",
    ),  # fmt: skip
    "export": Command(
        "write a run's model (a GAN's generator, ...) as a standard .keras file", takes="run"
    ),
    "translate": Command(
        "translate text with a translator run (English to Spanish, or its --direction)",
        takes="run",
        text="sentences",
        warns=True,
        show="lines",
    ),  # fmt: skip
    "generate": Command("continue a prompt with a gpt run", takes="run", show="texts"),
    "classify": Command(
        "label texts with a text-classifier run", takes="run", text="texts", show="labels"
    ),
    "embed": Command(
        "contextual vectors of texts from an elmo run (print them or --out X.npy)",
        takes="run",
        text="texts",
        show="vectors",
    ),  # fmt: skip
    "augment": Command(
        "augment images, text or a table (keraslab augment images|text|table INPUT)",
        kinds={
            "images": _augment("images", augment_work.AUGMENT_BACKEND),
            "text": _augment("text", augment_work.text_backend, run_option="forward"),
            "table": _augment("table", augment_work.table_backend),
        },
    ),
    "visualize": Command(
        "what a convnet sees: filters, class images, saliency (visualize filters MODEL)",
        kinds={
            "filters": Command(
                "images that excite filters of a convolution layer (gradient ascent)",
                inputs=(_MODEL,),
                options=vision.FiltersOptions,
                run="keraslab.cli.vision:filters",
            ),  # fmt: skip
            "class": Command(
                "images that maximise one class's logit",
                inputs=(_MODEL,),
                options=vision.ClassOptions,
                run="keraslab.cli.vision:class_images",
            ),  # fmt: skip
            "saliency": Command(
                "an image beside the gradient of its class score (saliency map)",
                inputs=(_MODEL,),
                options=vision.SaliencyOptions,
                run="keraslab.cli.vision:saliency_map",
            ),  # fmt: skip
        },
    ),
    "style-transfer": Command(
        "neural style transfer of a content image to a style image's textures",
        inputs=(
            ("CONTENT", "the content image (PNG/JPEG, or skimage:NAME, e.g. skimage:chelsea)"),
            ("STYLE", "the style image (PNG/JPEG, or skimage:NAME, e.g. skimage:brick)"),
        ),
        options=vision.StyleTransferOptions,
        run="keraslab.cli.vision:style_transfer",
    ),
    "plot": Command(
        "draw a model's diagram (a run, a .keras file or efficientnet-lite0)",
        inputs=(_MODEL,),
        options=vision.PlotOptions,
        run="keraslab.cli.vision:plot",
    ),  # fmt: skip
    "report": Command(
        "rebuild a run's report.html (curves, samples, metrics, settings) [--open]",
        inputs=(_RUN,),
        options=ReportOptions,
        run="keraslab.cli.report:report_command",
        backend=None,
    ),  # fmt: skip
    "compare": Command(
        "one page comparing runs: settings that differ, curves, final metrics",
        inputs=(("RUN", "two or more run folders"),),
        options=CompareOptions,
        run="keraslab.cli.report:compare_command",
        backend=None,
        many=True,
    ),  # fmt: skip
    "list": Command("recipes and datasets (and which datasets are installed)", takes="nothing"),
}


def tools() -> Iterator[tuple[str, str | None, Command]]:
    """Every ``(command, kind or None, Command)`` that takes inputs and options of its own."""
    for name, command in COMMANDS.items():
        for kind, c in command.kinds.items() or [(None, command)]:
            if c.takes == "inputs" and c.options is not None:
                yield name, kind, c
