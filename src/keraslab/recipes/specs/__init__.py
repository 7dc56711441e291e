"""What each recipe declares, Keras-free: its name, data sets, measured default backend, its
``Config`` (every setting, with help text and range) and the commands it offers with their
options. ``keraslab.recipes.RECIPES`` is built from these modules and the CLI generates its
parsers from them, so an option or a command is one edit here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecipeInfo:
    """A recipe as the registry and the CLI see it.

    Args:
        name: str. ``keraslab train NAME``.
        module: str. The module holding the recipe (imported after the backend is chosen); it
            defines ``RECIPE``, a :class:`keraslab.recipes.base.Recipe`.
        description: str. One line for ``keraslab list``.
        datasets: tuple of str. ``--dataset`` choices; the first is not necessarily the default.
        default_dataset: str.
        Config: the settings dataclass (a :class:`keraslab.options.Settings`).
        commands: dict of command name to its options dataclass, for the commands on a run
            (``sample``, ``evaluate``, ``export``, ``translate``, ...); the first is the one a
            user of the run reaches for (named in hints).
        default_backend: str or None. The fastest measured backend for this job.
        resumable: bool. Whether ``train --resume`` can continue its runs.
        kind: str. What the runs are about ("image", "text", "tabular"), for messages.
    """

    name: str
    module: str
    description: str
    datasets: tuple[str, ...]
    default_dataset: str
    Config: type
    commands: dict = field(default_factory=dict)
    default_backend: str | None = None
    resumable: bool = True
    kind: str = "image"
