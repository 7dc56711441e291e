"""Run code around the first import of a top-level module (keraslab imports neither on its own).

Two uses, both because keraslab must not import Keras or TensorFlow before the CLI has chosen the
backend: :mod:`keraslab.cli.quiet` runs ``import tensorflow`` with stderr silenced, and
``keraslab/__init__`` registers keraslab's Keras classes right after ``import keras`` (so
``keras.saving.load_model`` reads exported files after ``import keraslab``).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager


class _WrappedLoader:  # an importlib Loader (not subclassed: importlib.abc costs 35 ms)
    def __init__(self, loader, finder):
        self._loader, self._finder = loader, finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self._finder)  # once: the module is being imported now
        with self._finder.around():
            self._loader.exec_module(module)


class _Finder:  # an importlib MetaPathFinder
    def __init__(self, name: str, around: Callable[[], AbstractContextManager]):
        self.name, self.around = name, around

    def find_spec(self, name, path=None, target=None):
        # Also asked by importlib.util.find_spec (an "is it installed?" check): the hook stays
        # until the module is really executed.
        if name != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _WrappedLoader(spec.loader, self)
        return spec


def around_import(name: str, around: Callable[[], AbstractContextManager]) -> bool:
    """Run the first ``import name`` (a top-level module) inside the context ``around()``.

    Returns False (and does nothing) when ``name`` is already imported or already hooked.
    """
    if name in sys.modules or any(isinstance(f, _Finder) and f.name == name for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _Finder(name, around))
    return True


def after_import(name: str, fn: Callable[[], None]) -> None:
    """Call ``fn()`` once ``name`` is imported: now if it already is, else right after."""
    if name in sys.modules:
        fn()
        return

    @contextlib.contextmanager
    def then():
        yield
        fn()

    around_import(name, then)
