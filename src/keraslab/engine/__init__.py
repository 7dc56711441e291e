"""The training engine: models describe phases, the engine differentiates them per backend.

Only this package imports jax, tensorflow or torch (``tests/engine/test_imports.py`` enforces it).
"""

from keraslab.engine.distribute import along_batch
from keraslab.engine.gradients import grad, no_grad
from keraslab.engine.inference import compile_inference, compiled_method
from keraslab.engine.model import PhasedModel, fastest_jit_compile
from keraslab.engine.phases import Batch, Phase, PhaseOptimizers
from keraslab.engine.seeding import set_seed

__all__ = [
    "along_batch",
    "Batch",
    "Phase",
    "PhaseOptimizers",
    "PhasedModel",
    "compile_inference",
    "compiled_method",
    "fastest_jit_compile",
    "grad",
    "no_grad",
    "set_seed",
]

import keraslab  # noqa: E402

keraslab._register_keras_classes(done=__name__)  # if Keras came in through this package
