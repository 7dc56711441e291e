"""Benchmark keras.layers.Conv2DTranspose vs keraslab's Conv2DTranspose (subpixel and native).

Usage: KERAS_BACKEND=jax|tensorflow|torch python benchmarks/conv_transpose.py [--batch 128]
[--reps 5] [--warmup 2]

For each DCGAN generator shape it prints the median forward time and forward+backward time
(gradient of a scalar loss w.r.t. the input and the layer's variables). JAX: jax.jit over the
stateless call / value_and_grad. TensorFlow: tf.function. Torch: eager.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np

from keraslab.layers.conv import Conv2DTranspose

# (name, input (H, W, C), filters, kernel, stride)
SHAPES = [
    ("7x7x8->14x14x64 k4s2", (7, 7, 8), 64, 4, 2),
    ("14x14x64->28x28x128 k4s2", (14, 14, 64), 128, 4, 2),
    ("28x28x128->28x28x128 k4s1", (28, 28, 128), 128, 4, 1),
]


def _make_fns(layer, x):
    """Return (forward(), forward_backward()) callables that block until the result is ready."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        xj = jnp.asarray(x)

        @jax.jit
        def fwd(tv, x_):
            return layer.stateless_call(tv, non_trainable, x_)[0]

        def loss(tv, x_):
            out = layer.stateless_call(tv, non_trainable, x_)[0]
            return jnp.mean(jnp.square(out))

        grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return (
            lambda: jax.block_until_ready(fwd(trainable, xj)),
            lambda: jax.block_until_ready(grad(trainable, xj)),
        )
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)

        @tf.function
        def fwd(x_):
            return layer(x_)

        @tf.function
        def grad(x_):
            with tf.GradientTape() as tape:
                tape.watch(x_)
                loss = tf.reduce_mean(tf.square(layer(x_)))
            return loss, tape.gradient(loss, [x_] + [v.value for v in layer.trainable_variables])

        return (lambda: fwd(xt).numpy(), lambda: grad(xt)[0].numpy())
    if backend == "torch":
        import torch

        xt = torch.tensor(x)

        def fwd():
            with torch.no_grad():
                return layer(xt)

        def grad():
            xg = xt.detach().requires_grad_(True)
            loss = torch.mean(torch.square(layer(xg)))
            params = [xg] + [v.value for v in layer.trainable_variables]
            return torch.autograd.grad(loss, params)

        return fwd, grad
    raise SystemExit(f"unsupported backend {backend}")


def _interleaved_median_ms(fns, reps, warmup):
    """Median ms of each callable; reps are interleaved so that load changes hit all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    names = list(fns)
    for rep in range(reps):
        # Rotate the order each rep so no implementation always runs first.
        shift = rep * 2 % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    backend = keras.backend.backend()
    print(f"backend={backend} keras={keras.__version__} batch={args.batch} reps={args.reps}")
    header = (
        f"{'shape':28s} {'impl':9s} {'fwd ms':>9s} {'fwd+bwd ms':>11s} {'fwd x':>7s} {'f+b x':>7s}"
    )
    print(header)
    totals = {}
    rng = np.random.default_rng(0)
    for name, in_shape, filters, k, s in SHAPES:
        x = rng.standard_normal((args.batch, *in_shape)).astype("float32")
        ref = keras.layers.Conv2DTranspose(filters, k, strides=s, padding="same")
        ref.build(x.shape)
        layers = {"keras": ref}
        for impl in ("subpixel", "native"):
            layer = Conv2DTranspose(filters, k, strides=s, padding="same", implementation=impl)
            layer.build(x.shape)
            layer.set_weights(ref.get_weights())
            layers[impl] = layer
        auto = Conv2DTranspose(filters, k, strides=s, padding="same").resolved_implementation
        fns = {}
        for impl, layer in layers.items():
            fwd, grad = _make_fns(layer, x)
            fns[(impl, "fwd")] = fwd
            fns[(impl, "grad")] = grad
        med = _interleaved_median_ms(fns, args.reps, args.warmup)
        base = (med[("keras", "fwd")], med[("keras", "grad")])
        for impl in layers:
            t_f, t_g = med[(impl, "fwd")], med[(impl, "grad")]
            tf_, tg_ = totals.get(impl, (0.0, 0.0))
            totals[impl] = (tf_ + t_f, tg_ + t_g)
            print(
                f"{name:28s} {impl:9s} {t_f:9.1f} {t_g:11.1f} "
                f"{base[0] / t_f:7.2f} {base[1] / t_g:7.2f}"
                + ("  <- auto" if impl == auto else ""),
                flush=True,
            )
    kf, kg = totals["keras"]
    for impl, (t_f, t_g) in totals.items():
        print(f"{'TOTAL':28s} {impl:9s} {t_f:9.1f} {t_g:11.1f} {kf / t_f:7.2f} {kg / t_g:7.2f}")
    print("(x = speed-up vs keras.layers.Conv2DTranspose; >1 means faster)")


if __name__ == "__main__":
    main()
