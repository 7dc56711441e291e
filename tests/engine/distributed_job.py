"""Trains a small model for a few steps, on one device or distributed, and saves its weights:
run by tests/engine/test_distribute.py in fresh processes (the device count and the JAX
distributed runtime are fixed per process).

    python distributed_job.py MODEL OUT.npz [--distribute MODE] [--devices N] [--mesh RxS]
        [--coordinator HOST:PORT --num-processes P --process-id I]

MODEL: dense (a plain Keras model, compile/fit), gan (the two-phase DCGAN of the phase
engine), gpt (one step of the mini GPT; saves the loss before and after).
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from keraslab.scaleout import Distribute  # noqa: E402

BATCH, STEPS = 16, 3


def data(model: str):
    rng = np.random.default_rng(0)
    if model == "gan":
        return rng.uniform(-1, 1, (BATCH * STEPS, 16, 16, 1)).astype("float32"), None
    if model == "gpt":
        ids = rng.integers(0, 64, (BATCH * STEPS, 17))
        return ids[:, :-1].astype("int32"), ids[:, 1:].astype("int32")
    x = rng.normal(size=(BATCH * STEPS, 8)).astype("float32")
    return x, (x @ rng.normal(size=(8, 4))).astype("float32")


def build(model: str):
    import keras

    from keraslab.models.gan import DCGAN
    from keraslab.models.gpt import GPT

    keras.utils.set_random_seed(1)
    if model == "gan":
        m = DCGAN(image_shape=(16, 16, 1), latent_dim=8, seed=3, arch="dcgan")
        # SGD: Adam's first steps are lr * sign(gradient), which turns the rounding of a
        # near-zero gradient (summed in another order over devices) into a whole step.
        m.compile(d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05))
        return m
    if model == "gpt":
        m = GPT(vocabulary_size=64, sequence_length=16, embedding_dim=32, num_heads=2,
                num_layers=1, dropout=0.0)  # fmt: skip
        m.compile(optimizers={"gpt": keras.optimizers.Adam(1e-2)})
        return m
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, "tanh"), keras.layers.Dense(4)])
    m.compile(keras.optimizers.Adam(1e-2), "mse")
    return m


def _shape_text(shape) -> str:
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--distribute")
    p.add_argument("--devices", type=int)
    p.add_argument("--mesh")
    p.add_argument("--coordinator")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--process-id", type=int)
    a = p.parse_args()
    settings = None
    if a.distribute:
        settings = Distribute.from_options(
            a.distribute, a.devices, a.mesh, a.coordinator, a.num_processes, a.process_id,
            timeout=30,
        )  # fmt: skip
    import keras

    from keraslab.data.batches import ArrayBatches

    dist = None
    if settings is not None:
        from keraslab.engine.distribute import start

        dist = start(settings)
    model = build(a.model)
    x, y = data(a.model)
    batches = ArrayBatches(x, y, BATCH, seed=0).start_at(0)
    inputs = {"x": batches, "shuffle": False}
    if dist is not None:
        from keraslab.engine.distribute import shard_inputs

        inputs = shard_inputs(inputs, dist, settings, BATCH)
    initial = [keras.ops.convert_to_numpy(w) for w in model.weights]
    result = {}
    if a.model == "gpt":
        result["loss_before"] = model.evaluate(inputs["x"], verbose=0)
    model.fit(**inputs, epochs=1, verbose=0)
    if a.model == "gpt":
        result["loss_after"] = model.evaluate(inputs["x"], verbose=0)
    # How many variables are split over devices (model parallelism), read from JAX's arrays.
    result["sharded"] = sum(not w.value.sharding.is_fully_replicated for w in model.weights)
    final = [keras.ops.convert_to_numpy(w) for w in model.weights]
    result["moved"] = max(float(np.max(np.abs(a - b))) for a, b in zip(initial, final))
    for i, w in enumerate(model.weights):
        result[f"w{i}"] = keras.ops.convert_to_numpy(w)
    if dist is not None and settings.num_processes == 1:
        from keraslab.engine.distribute import (
            allreduce_bytes,
            allreduce_shapes,
            hlo_tensor_bytes,
            train_step_program,
        )

        batch = inputs["x"][0]
        program = train_step_program(model, batch)
        result["allreduce_bytes"] = allreduce_bytes(program)
        # For benchmarks/distribute_comm.py --breakdown: each reduced tensor's shape and bytes,
        # and each trainable weight's path and shape (shapes as text: arrays of mixed rank).
        reduced = allreduce_shapes(program)
        result["reduced_shapes"] = np.array([_shape_text(s) for _, s in reduced])
        result["reduced_bytes"] = np.array([hlo_tensor_bytes(d, s) for d, s in reduced])
        result["param_paths"] = np.array([v.path for v in model.trainable_variables])
        result["param_shapes"] = np.array([_shape_text(v.shape) for v in model.trainable_variables])
        result["trainable_bytes"] = sum(
            int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.trainable_variables
        )
    if settings is None or settings.primary:
        np.savez(a.out, **result)


if __name__ == "__main__":
    main()
