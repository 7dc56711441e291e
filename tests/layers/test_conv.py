"""keraslab.layers.conv.Conv2DTranspose matches keras.layers.Conv2DTranspose (values and gradients)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keraslab.layers.conv import Conv2DTranspose

pytestmark = pytest.mark.backend

IMPLEMENTATIONS = ["subpixel", "native"]

# (kernel_size, strides, padding, output_padding, use_bias, input (H, W, C), filters)
CONFIGS = [
    pytest.param(4, 2, "same", None, True, (7, 7, 8), 6, id="k4s2-same"),
    pytest.param(4, 1, "same", None, True, (6, 6, 5), 4, id="k4s1-same"),
    pytest.param(3, 2, "same", None, True, (5, 6, 3), 4, id="k3s2-same-odd"),
    pytest.param(5, 2, "same", None, False, (5, 5, 3), 4, id="k5s2-same-nobias"),
    pytest.param(4, 2, "valid", None, True, (5, 7, 3), 4, id="k4s2-valid-odd"),
    pytest.param(3, (2, 1), "same", None, True, (5, 4, 3), 4, id="k3s21-same"),
    pytest.param((3, 2), (2, 3), "valid", None, False, (3, 5, 2), 3, id="k32s23-valid"),
    pytest.param(2, 3, "same", None, True, (4, 3, 2), 3, id="k2s3-same-k<s"),
    pytest.param(3, 2, "same", 0, True, (5, 5, 3), 4, id="k3s2-same-outpad0"),
    pytest.param(4, 3, "valid", (1, 2), True, (3, 4, 2), 3, id="k4s3-valid-outpad"),
]


def _pair(kernel_size, strides, padding, output_padding, use_bias, filters, implementation):
    kwargs = dict(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding=padding,
        output_padding=output_padding,
        use_bias=use_bias,
        bias_initializer="random_normal",
    )
    ref = keras.layers.Conv2DTranspose(**kwargs)
    ours = Conv2DTranspose(**kwargs, implementation=implementation)
    return ref, ours


def _close(actual, expected, tol=1e-5):
    actual = np.asarray(keras.ops.convert_to_numpy(actual))
    expected = np.asarray(keras.ops.convert_to_numpy(expected))
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= tol * scale, f"max abs error {err} > {tol} * {scale}"


def _grads(layer, x, weight):
    """Gradients of sum(layer(x) * weight) w.r.t. (x, kernel), with the backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        kernel_index = [id(v) for v in layer.trainable_variables].index(id(layer.kernel))

        def loss(x_, trainable_):
            out, _ = layer.stateless_call(trainable_, non_trainable, x_)
            return jax.numpy.sum(out * weight)

        gx, gvars = jax.grad(loss, argnums=(0, 1))(jax.numpy.asarray(x), trainable)
        return np.asarray(gx), np.asarray(gvars[kernel_index])
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(layer(xt) * weight)
        gx, gk = tape.gradient(loss, [xt, layer.kernel.value])
        return gx.numpy(), tf.convert_to_tensor(gk).numpy()
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        loss = torch.sum(layer(xt) * torch.tensor(weight))
        gx, gk = torch.autograd.grad(loss, [xt, layer.kernel.value])
        return gx.detach().cpu().numpy(), gk.detach().cpu().numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "kernel_size,strides,padding,output_padding,use_bias,in_shape,filters", CONFIGS
)
def test_matches_keras_outputs_and_gradients(
    kernel_size, strides, padding, output_padding, use_bias, in_shape, filters, implementation
):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *in_shape)).astype("float32")
    ref, ours = _pair(
        kernel_size, strides, padding, output_padding, use_bias, filters, implementation
    )
    expected = ref(x)
    ours.build(x.shape)
    ours.set_weights(ref.get_weights())
    assert [v.path.split("/")[-1] for v in ours.weights] == [
        v.path.split("/")[-1] for v in ref.weights
    ]
    assert [tuple(v.shape) for v in ours.weights] == [tuple(v.shape) for v in ref.weights]
    actual = ours(x)
    _close(actual, expected)
    assert tuple(ours.compute_output_shape(x.shape)) == tuple(keras.ops.shape(expected))

    weight = rng.standard_normal(tuple(keras.ops.shape(expected))).astype("float32")
    gx_ref, gk_ref = _grads(ref, x, weight)
    gx, gk = _grads(ours, x, weight)
    _close(gx, gx_ref)
    _close(gk, gk_ref)


def test_dcgan_shapes_symbolic_and_auto():
    inputs = keras.Input((7, 7, 8))
    ours = Conv2DTranspose(16, 4, strides=2, padding="same", activation="relu")
    outputs = ours(inputs)
    assert tuple(outputs.shape) == (None, 14, 14, 16)
    expected_impl = "subpixel" if keras.backend.backend() == "jax" else "native"
    assert ours.resolved_implementation == expected_impl
    # Stride 1 has no input dilation: the native op is an ordinary convolution.
    assert Conv2DTranspose(4, 4, padding="same").resolved_implementation == "native"
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).standard_normal((3, 7, 7, 8)).astype("float32")
    out = keras.ops.convert_to_numpy(model(x))
    assert out.shape == (3, 14, 14, 16)
    assert out.min() >= 0.0


def test_get_config_round_trip():
    layer = Conv2DTranspose(
        5,
        (3, 4),
        strides=(2, 1),
        padding="same",
        activation="tanh",
        use_bias=True,
        kernel_regularizer="l2",
        bias_initializer="random_normal",
        implementation="subpixel",
    )
    x = np.random.default_rng(2).standard_normal((2, 5, 6, 3)).astype("float32")
    expected = layer(x)
    config = layer.get_config()
    assert config["implementation"] == "subpixel"
    for key in ("filters", "kernel_size", "strides", "padding", "output_padding", "use_bias"):
        assert key in config
    clone = Conv2DTranspose.from_config(config)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    _close(clone(x), expected, tol=1e-6)
    assert clone.implementation == "subpixel"

    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, Conv2DTranspose)
    assert restored.get_config() == config


def _model(layer_cls, **extra):
    return keras.Sequential(
        [
            keras.Input((7, 7, 8)),
            layer_cls(16, 4, strides=2, padding="same", activation="relu", **extra),
            layer_cls(3, 3, strides=1, padding="same", **extra),
        ]
    )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_weights_files_are_interchangeable(tmp_path, implementation):
    x = np.random.default_rng(3).standard_normal((2, 7, 7, 8)).astype("float32")
    keras_model = _model(keras.layers.Conv2DTranspose, bias_initializer="random_normal")
    path = tmp_path / "keras.weights.h5"
    keras_model.save_weights(path)
    ours = _model(Conv2DTranspose, implementation=implementation)
    ours.load_weights(path)
    _close(ours(x), keras_model(x))

    # And back: our weights file loads into the Keras model.
    back_path = tmp_path / "ours.weights.h5"
    ours.save_weights(back_path)
    fresh = _model(keras.layers.Conv2DTranspose)
    fresh.load_weights(back_path)
    _close(fresh(x), ours(x))


def test_full_model_save_and_load(tmp_path):
    model = _model(Conv2DTranspose, implementation="subpixel")
    x = np.random.default_rng(4).standard_normal((2, 7, 7, 8)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[0], Conv2DTranspose)
    assert loaded.layers[0].implementation == "subpixel"
    _close(loaded(x), model(x), tol=1e-6)


def test_unsupported_arguments_raise():
    with pytest.raises(ValueError, match="channels_last"):
        Conv2DTranspose(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv2DTranspose(4, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="implementation"):
        Conv2DTranspose(4, 3, implementation="fast")
