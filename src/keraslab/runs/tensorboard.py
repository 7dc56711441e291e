"""Which library writes a run's TensorBoard event files (Keras-free: the CLI asks before Keras
loads)."""

from __future__ import annotations

from keraslab.errors import UserError


def tensorboard_writer(writer: str = "auto") -> str:
    """Which library writes a run's TensorBoard event files: "keras" (Keras's TensorBoard
    callback, which needs TensorFlow and TensorBoard installed, on any backend), else
    "tensorboardx"; a one-line UserError when neither is installed."""
    import importlib.util

    def installed(name):
        return importlib.util.find_spec(name) is not None

    if writer not in ("auto", "keras", "tensorboardx"):
        raise ValueError(f"writer must be 'auto', 'keras' or 'tensorboardx', got {writer!r}.")
    keras_ok = installed("tensorflow") and installed("tensorboard")
    if writer == "auto":
        writer = "keras" if keras_ok else "tensorboardx" if installed("tensorboardX") else None
    if (
        writer is None
        or (writer == "keras" and not keras_ok)
        or (writer == "tensorboardx" and not installed("tensorboardX"))
    ):
        raise UserError(
            "--tensorboard needs TensorBoard: pip install tensorboard (with TensorFlow) or "
            "pip install tensorboardX."
        )
    return writer
