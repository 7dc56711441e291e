"""The ``keraslab`` command line, generated from declarations.

- :mod:`keraslab.cli.commands`: every command, declared once (help, what it takes, options,
  default backend, the function that does the work, how its result is printed).
- :mod:`keraslab.cli.dispatch`: the parsers generated from those declarations and the recipes'
  ``Config`` and command options, the backend choice, the checks of where a command writes, and
  the one dispatcher, ``main``.
- :mod:`keraslab.cli.augment`, :mod:`keraslab.cli.vision`, :mod:`keraslab.cli.report`: the work
  of the commands that are not one recipe's.
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
