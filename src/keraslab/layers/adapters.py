"""Bottleneck adapters (Houlsby et al. 2019) and a wrapper that puts one after any sublayer.

An adapter is a small residual bottleneck: ``x + up(act(down(x)))``, applied on the last axis, so
the same layer serves Transformer hidden states ``(batch, length, dim)`` and convolutional feature
maps ``(batch, height, width, channels)`` (where ``Dense`` on the channel axis is a 1×1
convolution). Its weights start near zero, so a freshly inserted adapter is close to the identity
and the pretrained network's outputs are (almost) unchanged before training.

Reference: N. Houlsby et al. "Parameter-Efficient Transfer Learning for NLP", ICML 2019.
https://arxiv.org/abs/1902.00751
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keraslab")
class Adapter(keras.layers.Layer):
    """Houlsby bottleneck adapter: ``x + up(act(down(x)))`` on the last axis.

    Args:
        bottleneck: int. Width of the down-projection (Houlsby: 8–256; 64 is a common default).
        activation: str. The nonlinearity between the projections.
        init_stddev: float. Standard deviation of the (truncated normal) initial weights of both
            projections; small, so the adapter starts near the identity (the paper's 1e-2).

    Example:
        >>> adapter = Adapter(bottleneck=64)
        >>> h = adapter(hidden_states)  # same shape, ≈ hidden_states before training
    """

    def __init__(
        self, bottleneck: int = 64, activation: str = "gelu", init_stddev: float = 1e-2, **kwargs
    ):
        super().__init__(**kwargs)
        self.bottleneck = bottleneck
        self.activation = activation
        self.init_stddev = init_stddev

    def build(self, input_shape):
        init = keras.initializers.TruncatedNormal(stddev=self.init_stddev)
        self.down = keras.layers.Dense(
            self.bottleneck, activation=self.activation, kernel_initializer=init, name="down"
        )
        self.down.build(input_shape)
        self.up = keras.layers.Dense(input_shape[-1], kernel_initializer=init, name="up")
        self.up.build(tuple(input_shape[:-1]) + (self.bottleneck,))
        self.built = True

    def call(self, x):
        return x + self.up(self.down(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "bottleneck": self.bottleneck,
            "activation": self.activation,
            "init_stddev": self.init_stddev,
        }


@keras.saving.register_keras_serializable(package="keraslab")
class Adapted(keras.layers.Layer):
    """``adapter(inner(*args, **kwargs))``: puts an :class:`Adapter` after an existing sublayer.

    Used by :func:`keraslab.transfer.finetune.insert_adapters` to place adapters *inside* a
    Transformer block — after the attention and feed-forward sublayers, before their residual
    additions, as in the paper — by replacing the block's sublayer attribute with this wrapper.
    The inner layer keeps its own weights (and names), so pretrained weights still apply.

    Args:
        inner: keras.layers.Layer. The sublayer to wrap.
        adapter: Adapter. The adapter to apply to its output.
    """

    def __init__(self, inner, adapter: Adapter, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{inner.name}_adapted"), **kwargs)
        self.inner = inner
        self.adapter = adapter
        self.built = inner.built and adapter.built

    def call(self, *args, **kwargs):
        return self.adapter(self.inner(*args, **kwargs))

    def compute_output_shape(self, *args, **kwargs):
        return self.inner.compute_output_shape(*args, **kwargs)

    def build(self, input_shape=None):
        # Nothing of its own. Keras cannot trace call(*args) to build the sublayers, so they are
        # built by their first call: eagerly, or symbolically in compute_output_spec (e.g. when a
        # loaded model is rebuilt), there with every call argument.
        self.built = True

    def compute_output_spec(self, *args, **kwargs):
        # (Keras's default would call compute_output_shape with the shapes of named call
        # arguments, and call(*args) has none.)
        return self.adapter(self.inner(*args, **kwargs))

    def get_config(self):
        return {
            **super().get_config(),
            "inner": keras.saving.serialize_keras_object(self.inner),
            "adapter": keras.saving.serialize_keras_object(self.adapter),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner"))
        adapter = keras.saving.deserialize_keras_object(config.pop("adapter"))
        return cls(inner, adapter, **config)
