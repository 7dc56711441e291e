"""Numeric precision of a model: float32, or mixed bfloat16 (bf16 compute, float32 weights).

Keras layers take their dtype policy when they are made, so :func:`precision` is a context in
which a recipe builds its model; the global policy is put back afterwards (a bfloat16 run leaves
no trace on the next model built in the same process). Under ``"bfloat16"`` every layer computes
in bfloat16 and keeps its weights, optimizer state and checkpoints in float32 (Keras's
``"mixed_bfloat16"``), so a run can be resumed at either precision. Losses are summed in float32:
the models cast network outputs before they reduce them.

bfloat16 pays on CPUs that compute it natively (AVX512-BF16, AMX) and on accelerators; on a CPU
without it every bfloat16 operation is emulated and a step is slower than in float32
(BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib

import keras

# Option value -> Keras dtype policy.
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


@contextlib.contextmanager
def precision(name: str = "float32"):
    """Layers made inside compute in ``name`` ("float32" or "bfloat16"); the policy before is
    restored on exit.

    Args:
        name: str. A key of :data:`PRECISIONS`.

    Example:
        >>> with precision("bfloat16"):
        ...     model = build_bn_generator()
        >>> model.layers[-1].compute_dtype
        'bfloat16'
    """
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: choose one of {', '.join(PRECISIONS)}.")
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[name])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)
