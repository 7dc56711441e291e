"""``set_seed``: keras.utils.set_random_seed without importing TensorFlow on other backends.

``keras.utils.set_random_seed`` also seeds TensorFlow whenever it is installed, which imports it
(3 s, and on CPUs where TensorFlow enables oneDNN, lines on stderr) even for a torch or JAX run.
keraslab seeds TensorFlow only when it is the backend or is already loaded.
"""

from __future__ import annotations

import sys

import keras


class _Unavailable:
    available = False


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, Keras's global seed generator and the backend.

    Same as ``keras.utils.set_random_seed(seed)``, except that TensorFlow is seeded only when it
    is the Keras backend or already imported.

    Args:
        seed: int. The seed.
    """
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    from keras.src.utils import rng_utils  # the lazy `tf` handle set_random_seed consults

    saved = rng_utils.tf
    rng_utils.tf = _Unavailable()
    try:
        keras.utils.set_random_seed(seed)
    finally:
        rng_utils.tf = saved
