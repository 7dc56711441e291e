"""Keep TensorFlow's start-up lines, and Python's "Exception ignored" blocks, off the terminal.

On CPUs where TensorFlow enables oneDNN (AVX-512, AVX-VNNI ...) ``import tensorflow`` writes
``WARNING: All log messages before absl::InitializeLog() ...`` and ``oneDNN custom operations
are on ...`` from C++ straight to file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL`` applies.
:func:`silence_tensorflow_import` runs TensorFlow's import with descriptor 2 pointed at
``/dev/null``; nothing else changes, and nothing happens unless TensorFlow is imported. The CLI
calls it before Keras loads.

:func:`keep_ctrl_c` makes a Ctrl-C that lands inside a garbage-collector callback or a
``__del__`` (jax registers one, and Keras imports jax on every backend) interrupt the program as
usual instead of being printed as "Exception ignored in ..." and lost.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading

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


def keep_ctrl_c() -> None:
    """Re-deliver a KeyboardInterrupt that Python could only report as "unraisable".

    Python cannot raise from a gc callback or ``__del__``: it hands the exception to
    ``sys.unraisablehook``, whose default prints a traceback and drops it, so the user's Ctrl-C
    is swallowed. This hook prints nothing for a KeyboardInterrupt and sends SIGINT to the main
    thread again, where the CLI turns it into its one line; any other unraisable exception goes
    to the hook that was installed before. Idempotent.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_keraslab", False):
        return

    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            # Not from here: a signal set pending inside this hook would raise inside it (and be
            # unraisable again). A new thread can only run once the hook has returned and the
            # main thread lets go of the GIL; the signal then interrupts the main thread as a
            # second Ctrl-C would.
            main = threading.main_thread().ident
            _thread.start_new_thread(signal.pthread_kill, (main, signal.SIGINT))
        else:
            previous(unraisable)

    hook._keraslab = True
    sys.unraisablehook = hook
