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
    "keraslab.models.classifier",
    "keraslab.models.gpt",
    "keraslab.models.translator",
)


def _register_keras_classes() -> None:
    import importlib

    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def _install() -> None:
    from keraslab._imports import after_import

    after_import("keras", _register_keras_classes)


_install()
