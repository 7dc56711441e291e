"""Training on many devices and hosts through Keras's own ``keras.distribution`` (JAX backend).

keraslab does not shard anything itself: :func:`start` sets a Keras distribution before the
model is built, and Keras's JAX trainer does the rest -- every variable gets its layout when it
is created (replicated for data parallelism, sharded by the :class:`TransformerParallel` rules
for model parallelism), each batch is split along its first axis over the ``"batch"`` mesh axis,
and XLA inserts the all-reduce of the gradients into the phase engine's jitted train step.

- ``data-parallel``: :class:`keras.distribution.DataParallel` over ``devices`` (all by default).
- ``model-parallel``: :class:`keras.distribution.ModelParallel` on a ``(batch, model)`` mesh
  (``--mesh 2x2``) whose layout map shards every embedding table and every 2-D dense kernel
  along its last axis over ``"model"`` (a variable whose shape does not split stays replicated).
- Several hosts: ``jax.distributed.initialize`` with the coordinator's address, the number of
  processes and this process's id (or the standard ``KERAS_DISTRIBUTION_*`` variables); CPU
  processes talk through gloo. Each process feeds only its slice of every global batch
  (:class:`ProcessBatches`); process 0 alone writes the run folder.

TensorFlow and PyTorch: ``keras.distribution`` is implemented for JAX only, so ``--distribute``
says so and stops (TensorFlow's ``tf.distribute`` strategies are not wired to the phase
engine's custom train step; PyTorch has no Keras distribution at all).
"""

from __future__ import annotations

import keras
import numpy as np

from keraslab.errors import UserError
from keraslab.scaleout import SIMULATE, Distribute


def start(settings: Distribute) -> keras.distribution.Distribution:
    """Join the job (several processes) and set the Keras distribution; call before the model
    is built. Returns the distribution."""
    import jax

    if settings.num_processes > 1 and not jax.distributed.is_initialized():
        if not settings.primary:
            from keraslab.scaleout import wait_for_coordinator

            wait_for_coordinator(settings.coordinator, settings.timeout)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            settings.coordinator,
            settings.num_processes,
            settings.process_id,
            initialization_timeout=int(settings.timeout),
        )
    devices = keras.distribution.list_devices()
    wanted = settings.devices or (np.prod(settings.mesh) if settings.mesh else len(devices))
    if wanted > len(devices):
        raise UserError(
            f"{wanted} devices asked for but {len(devices)} visible; to try it on one CPU, "
            f"simulate devices with {SIMULATE} (set before the command)."
        )
    devices = devices[: int(wanted)]
    if settings.mode == "data-parallel":
        dist = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    else:
        replicas, shards = settings.mesh or (1, len(devices))
        mesh = keras.distribution.DeviceMesh((replicas, shards), ("batch", "model"), devices)
        dist = TransformerParallel(layout_map=transformer_layouts(mesh), batch_dim_name="batch")
        dist.auto_shard_dataset = False
    keras.distribution.set_distribution(dist)
    _serial_callbacks()
    return dist


def _serial_callbacks() -> None:
    """Keras hands batch-end logs to a thread pool when no callback needs them at once; under a
    distribution that thread reads a sharded value while the main thread starts the next step,
    and on CPU the two programs' collectives wait for each other until XLA aborts the process
    (seen in ``evaluate`` on 2 simulated devices). Callbacks run in the main thread instead."""
    from keras.src import backend as keras_backend

    keras_backend.IS_THREAD_SAFE = False


def stop() -> None:
    """Back to one device (the distribution of this process unset)."""
    keras.distribution.set_distribution(None)


def transformer_layouts(mesh) -> keras.distribution.LayoutMap:
    """Embedding tables and dense kernels split along their last axis over ``"model"``."""
    layouts = keras.distribution.LayoutMap(mesh)
    layouts[r".*embeddings$"] = (None, "model")
    layouts[r".*kernel$"] = (None, "model")
    return layouts


class TransformerParallel(keras.distribution.ModelParallel):
    """``ModelParallel`` whose layout map rules apply where the shape allows: a variable whose
    rank differs from its rule's or whose sharded axis does not divide by the model axis
    stays replicated (e.g. a 3-D attention kernel, an odd vocabulary)."""

    def get_variable_layout(self, variable):
        layout = self._layout_map[variable.path]
        mesh = self.device_mesh
        if layout is not None and len(layout.axes) == len(variable.shape):
            sizes = dict(zip(mesh.axis_names, mesh.shape))
            if all(a is None or dim % sizes[a] == 0 for a, dim in zip(layout.axes, variable.shape)):
                return layout
        return keras.distribution.TensorLayout([None] * len(variable.shape), mesh)


def replicas(dist) -> int:
    """How many ways each global batch is split (the size of the ``"batch"`` mesh axis)."""
    mesh = dist.device_mesh
    return int(dict(zip(mesh.axis_names, mesh.shape))[dist.batch_dim_name])


def check_batch(batch_size: int, dist, option: str = "--batch-size") -> None:
    """One-line error when a global batch does not split evenly over the devices."""
    n = replicas(dist)
    if batch_size % n:
        raise UserError(
            f"{option} {batch_size} does not divide over {n} devices: use a multiple of {n} "
            f"(e.g. {max(n, batch_size // n * n)})."
        )


class ProcessBatches(keras.utils.PyDataset):
    """A training or validation input as seen by one process of a distributed job: batch ``i``
    of ``inner``, its rows cut to a multiple of the devices (a last batch that cannot be split
    loses at most ``multiple - 1`` rows; one smaller than ``multiple`` is skipped), then this
    process's contiguous share. All processes together feed exactly the global batch."""

    def __init__(self, inner, multiple: int, num_processes: int = 1, process_id: int = 0):
        super().__init__()
        self.inner, self.multiple = inner, int(multiple)
        self.num_processes, self.process_id = int(num_processes), int(process_id)
        n = len(inner)
        last = _rows(inner[n - 1]) if n else 0
        self._len = n - (1 if n and last < self.multiple else 0)

    def __len__(self):
        return self._len

    def __getitem__(self, i):
        batch = self.inner[i]
        rows = _rows(batch) // self.multiple * self.multiple
        share = rows // self.num_processes
        lo = self.process_id * share
        return _cut(batch, lo, lo + share)

    def on_epoch_end(self):
        if hasattr(self.inner, "on_epoch_end"):
            self.inner.on_epoch_end()

    def num_samples(self) -> int:
        return self.inner.num_samples() if hasattr(self.inner, "num_samples") else 0

    def __getattr__(self, name):  # epoch, batch_size, start_at ... of the wrapped sequence
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class _InOrder(keras.utils.PyDataset):
    """Arrays (a validation split) in fixed-order batches."""

    def __init__(self, data, batch_size: int):
        super().__init__()
        self.data, self.batch_size = data, int(batch_size)

    def __len__(self):
        return -(-_rows(self.data) // self.batch_size)

    def __getitem__(self, i):
        return _cut(self.data, i * self.batch_size, (i + 1) * self.batch_size)


def shard_inputs(inputs: dict, dist, settings: Distribute, batch_size: int | None) -> dict:
    """The ``model.fit`` arguments of one process: its share of every training and validation
    batch. Training input must be a batch sequence (every recipe that feeds one)."""
    n = replicas(dist)
    wrap = lambda data: ProcessBatches(data, n, settings.num_processes, settings.process_id)  # noqa: E731
    x = inputs.get("x")
    if not isinstance(x, keras.utils.PyDataset):
        raise UserError(
            "--distribute: this recipe feeds its training data as whole arrays, not as batches; "
            "it does not train distributed yet (use it without --distribute)."
        )
    out = {**inputs, "x": wrap(x)}
    val = inputs.get("validation_data")
    if val is not None and not isinstance(val, keras.utils.PyDataset):
        size = inputs.get("validation_batch_size") or batch_size or 32
        val = _InOrder(tuple(val) if isinstance(val, (tuple, list)) else val, max(n, size // n * n))
        out.pop("validation_batch_size", None)
    if val is not None:
        out["validation_data"] = wrap(val)
    return out


def _rows(data) -> int:
    if isinstance(data, dict):
        return _rows(next(iter(data.values())))
    if isinstance(data, (tuple, list)):
        return _rows(next(d for d in data if d is not None))
    return int(np.shape(data)[0])


def _cut(data, lo: int, hi: int):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _cut(v, lo, hi) for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        return type(data)(_cut(d, lo, hi) for d in data)
    return data[lo:hi]


_DTYPE_BYTES = {"f64": 8, "f32": 4, "bf16": 2, "f16": 2, "s64": 8, "s32": 4, "u32": 4, "s8": 1,
                "u8": 1, "pred": 1, "u64": 8, "s16": 2, "u16": 2}  # fmt: skip


def allreduce_shapes(hlo_text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(dtype, shape)`` of every tensor the all-reduce ops of a compiled XLA program reduce
    (a tuple all-reduce gives one entry per element), in program order."""
    import re

    found = []
    for line in hlo_text.splitlines():
        if " all-reduce(" not in line and " all-reduce-start(" not in line:
            continue
        lhs = line.split("=", 1)[1].split("all-reduce", 1)[0]
        for dtype, dims in re.findall(r"\b([a-z]+\d*)\[([\d,]*)\]", lhs):
            found.append((dtype, tuple(int(d) for d in dims.split(",") if d)))
    return found


def hlo_tensor_bytes(dtype: str, shape: tuple[int, ...]) -> int:
    """Bytes of an XLA tensor of ``dtype`` (HLO's spelling: ``f32``, ``bf16``, ...) and ``shape``."""
    return int(np.prod(shape, dtype=np.int64)) * _DTYPE_BYTES.get(dtype, 4)


def allreduce_bytes(hlo_text: str) -> int:
    """Bytes reduced per execution by the all-reduce ops of a compiled XLA program (the sum of
    their result shapes; a tuple all-reduce counts each element)."""
    return sum(hlo_tensor_bytes(d, s) for d, s in allreduce_shapes(hlo_text))


def train_step_program(model, batch) -> str:
    """The compiled text of ``model``'s JAX train step on ``batch`` under the current
    distribution (what XLA runs per step, collectives included)."""
    import jax
    from keras.src.backend.jax.trainer import _distribute_data

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    data = _distribute_data(batch if isinstance(batch, tuple) else (batch,))
    return jax.jit(model.train_step).lower(state, data).compile().as_text()


def along_batch(x):
    """``x`` laid out like the input batch under the current distribution (its rows split over
    the ``"batch"`` mesh axis); unchanged without one. For tensors a model makes inside its
    step, e.g. a GAN's latent noise: XLA would otherwise compute everything that follows from
    them whole on every device (same numbers, no data parallelism)."""
    dist = keras.distribution.distribution()
    if dist is None:
        return x
    return keras.distribution.distribute_tensor(x, dist.get_data_layout(tuple(x.shape)))
