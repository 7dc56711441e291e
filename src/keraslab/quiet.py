"""Keep TensorFlow's start-up lines off the terminal.

On CPUs where TensorFlow enables oneDNN (AVX-512, AVX-VNNI ...) ``import tensorflow`` writes
``WARNING: All log messages before absl::InitializeLog() ...`` and ``oneDNN custom operations
are on ...`` from C++ straight to file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL`` applies.
:func:`silence_tensorflow_import` runs TensorFlow's import with descriptor 2 pointed at
``/dev/null``; nothing else changes, and nothing happens unless TensorFlow is imported. The CLI
calls it before Keras loads.
"""

from __future__ import annotations

import contextlib
import os
import sys

from keraslab._imports import around_import


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def silence_tensorflow_import() -> None:
    """Make a later ``import tensorflow`` quiet on stderr (no effect once it is loaded).

    Also sets ``TF_CPP_MIN_LOG_LEVEL=3`` (errors only) unless the user set it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    around_import("tensorflow", _stderr_to_devnull)
