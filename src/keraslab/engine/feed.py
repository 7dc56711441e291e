"""Feeding in-memory batches to ``model.fit`` through the backend's own input pipeline.

Keras reads a ``keras.utils.PyDataset`` batch by batch from Python. On TensorFlow that costs a
small model a third to a half of its step rate (a DCGAN step: 4.6 against 7.6 steps/s; the VAE's:
14.7 against 18.7; BENCHMARKS.md); on JAX and PyTorch the PyDataset is as fast as any other feed
(measured), so it stays. :func:`gathered_batches` turns a batch sequence whose batches are rows of
in-memory arrays (``rows_of()``, e.g. :class:`keraslab.data.batches.ArrayBatches`) into a
``tf.data`` pipeline that gathers the same rows in the same order inside TensorFlow: training
sees exactly the batches the sequence would have given, so a run and its resumed continuation
see the same data either way.
"""

from __future__ import annotations

import keras
import numpy as np


def gathered_batches(batches, epochs: int) -> dict | None:
    """``model.fit`` arguments feeding ``batches`` from its epoch (``batches.epoch``) to
    ``epochs`` with a TensorFlow pipeline: ``{"x": dataset, "steps_per_epoch": len(batches)}``.
    None where the sequence should be fed as it is: another backend, or batches that are not
    plain rows of arrays (``batches.rows_of()`` is None or missing).

    Epoch ``e``'s rows come from ``batches.rows_of()``'s ``epoch_order(e)``, cut into
    ``batches.batch_size`` rows and each batch's rows sorted, as the sequence does.

    Example:
        >>> inputs = gathered_batches(ArrayBatches(x, None, 64).start_at(0), 10) or {"x": batches}
        >>> model.fit(**inputs, epochs=10)
    """
    if keras.backend.backend() != "tensorflow":
        return None
    plan = batches.rows_of() if hasattr(batches, "rows_of") else None
    if plan is None or len(batches) == 0:
        return None
    import tensorflow as tf

    arrays, epoch_order = plan
    tensors = {}  # one copy of an array given twice (an autoencoder's x and target)
    for a in arrays:
        tensors.setdefault(id(a), tf.convert_to_tensor(a))
    parts = tuple(tensors[id(a)] for a in arrays)
    size = int(batches.batch_size)

    def order(epoch):
        return np.asarray(epoch_order(int(epoch)), "int64")

    def epoch_batches(epoch):
        rows = tf.numpy_function(order, [epoch], tf.int64, stateful=False)
        rows.set_shape([None])
        return tf.data.Dataset.from_tensor_slices(rows).batch(size)

    def gather(rows):
        rows = tf.sort(rows)
        out = tuple(tf.gather(t, rows) for t in parts)
        return out[0] if len(out) == 1 else out

    # One gather at a time, one batch ahead: a gather is a memory copy, and tf.data's autotuner
    # would keep a thread busy after training (measured: seconds of sampling time lost on 2 cores).
    options = tf.data.Options()
    options.autotune.enabled = False
    first = int(getattr(batches, "epoch", 0))
    dataset = (
        tf.data.Dataset.range(first, max(int(epochs), first + 1))
        .flat_map(epoch_batches)
        .map(gather)
        .prefetch(1)
        .with_options(options)
    )
    # shuffle=False: the order is the sequence's own (Keras would warn that it ignores shuffle).
    return {"x": dataset, "steps_per_epoch": len(batches), "shuffle": False}
