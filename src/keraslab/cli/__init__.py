"""The ``keraslab`` command line, generated from declarations.

- :mod:`keraslab.cli.dispatch`: the parsers (generated from the recipes' ``Config`` and command
  options, and from :mod:`keraslab.cli.tools`), the backend choice and the one dispatcher,
  ``main``.
- :mod:`keraslab.cli.tools`: the commands that are not one recipe's (augment, visualize,
  style-transfer, plot, report, compare), declared once.
- :mod:`keraslab.cli.vision`, :mod:`keraslab.cli.report`: those commands' work.
- :mod:`keraslab.cli.quiet`: TensorFlow's start-up lines off the terminal, Ctrl-C kept.

``python -m keraslab.cli ARGS`` is ``keraslab ARGS``.
"""

from keraslab.cli.dispatch import (
    BACKENDS,
    DEFAULT_BACKEND,
    backend_installed,
    build_parser,
    given,
    main,
    resolve_backend,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "backend_installed",
    "build_parser",
    "given",
    "main",
    "resolve_backend",
]
