"""The training engine: models describe phases, the engine differentiates them per backend.

Only this package imports jax, tensorflow or torch (``tests/engine/test_imports.py`` enforces it).
"""

from keraslab.engine.gradients import grad, no_grad
from keraslab.engine.inference import compile_inference
from keraslab.engine.model import PhasedModel
from keraslab.engine.phases import Batch, Phase, PhaseOptimizers

__all__ = [
    "Batch",
    "Phase",
    "PhaseOptimizers",
    "PhasedModel",
    "compile_inference",
    "grad",
    "no_grad",
]
