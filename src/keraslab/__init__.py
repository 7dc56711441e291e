"""keraslab: advanced and generative deep learning on Keras 3, on any backend.

``import keraslab`` does not import Keras (the CLI chooses the backend first). keraslab's Keras
classes (layers, models) are registered as soon as Keras is imported, before or after this
package, so ``keras.saving.load_model("exported.keras")`` works after ``import keraslab``.
"""

__version__ = "0.1.0"

# Modules holding @keras.saving.register_keras_serializable classes (keras-hub ones excluded:
# import keraslab.transfer for those).
SERIALIZABLE_MODULES = (
    "keraslab.layers",
    "keraslab.models",
    "keraslab.models.asset_pricing",
    "keraslab.models.bert",
    "keraslab.models.text_classifier",
    "keraslab.models.elmo",
    "keraslab.models.gpt",
    "keraslab.models.translator",
)


_pending = False  # Keras came in while a keraslab module was half imported


def _register_keras_classes(done: str | None = None) -> None:
    """Import every module of :data:`SERIALIZABLE_MODULES` (their classes register themselves).

    Runs right after ``import keras``; when that import came from inside a keraslab module
    (``from keraslab.engine import PhasedModel`` as the first line of a script), importing the
    models now would be circular, so it waits for the packages' ends: ``keraslab.engine``,
    ``keraslab.layers`` and ``keraslab.models`` call it with ``done=`` their own name.
    """
    import importlib
    import sys

    global _pending
    if done is not None and not _pending:
        return
    busy = [
        name for name, module in list(sys.modules.items())
        if name.startswith("keraslab.") and name != done
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
    ]  # fmt: skip
    if busy:
        _pending = True
        return
    _pending = False
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def _install() -> None:
    from keraslab._imports import after_import

    after_import("keras", _register_keras_classes)


_install()
