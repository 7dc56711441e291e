"""Transposed convolution with a fast sub-pixel implementation.

On JAX's CPU backend the gradient of a transposed convolution (``lax.conv`` with
``lhs_dilation``) is pathologically slow (jax-ml/jax#23783, openxla/xla#34273). A transposed
convolution with stride ``s`` is equivalent to ``s_h * s_w`` ordinary stride-1 convolutions (one
per output phase) whose outputs are interleaved. This module computes all phases with ONE
ordinary convolution producing ``s_h * s_w * filters`` channels followed by a depth-to-space
rearrangement, which is much faster to differentiate.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

_IMPLEMENTATIONS = ("auto", "subpixel", "native")

# Backends on which "auto" picks the sub-pixel implementation (decided by
# benchmarks/conv_transpose.py, forward+backward at the DCGAN generator shapes).
_AUTO_SUBPIXEL_BACKENDS = ("jax",)


def _jax_style_padding(kernel_size, stride, padding, output_padding):
    """(left, right) padding of the stride-dilated input, as Keras passes it to JAX.

    Mirrors Keras's conversion for ``dilation_rate=1`` (keras/src/backend/common/backend_utils.py),
    which every Keras backend reproduces.
    """
    k, s = kernel_size, stride
    if padding == "valid":
        op = max(k, s) - k if output_padding is None else output_padding
        return k - 1, k - 1 + op
    if output_padding is None:
        pad_len = s + k - 2
    else:
        pad_len = k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return left, pad_len - left


def _subpixel_plan_1d(kernel_size, stride, padding, output_padding):
    """Plan of the sub-pixel computation along one spatial axis.

    The transposed convolution writes ``out[q*s + r] = sum_d y[q - d] * W[c + r + d*s]`` (over
    the ``d`` with ``0 <= c + r + d*s < k``), where ``c = k - 1 - left``. With ``dmin..dmax`` the
    union of valid ``d`` over phases ``r``, every phase is an ordinary correlation of ``y`` padded
    by ``dmax`` before, with a sub-kernel of length ``K' = dmax - dmin + 1``.

    Returns a dict with ``taps`` (int array ``(K', s)``: kernel index for tap ``t`` of phase ``r``,
    ``-1`` for a structural zero), ``pad_before``, ``pad_after`` (of the input; negative means
    crop) and ``crop_end`` (output rows to drop at the end after depth-to-space).
    """
    k, s = kernel_size, stride
    left, right = _jax_style_padding(k, s, padding, output_padding)
    c = k - 1 - left  # >= 0 since left <= k - 1
    d_lo, d_hi = [], []
    for r in range(s):
        lo = -((c + r) // s)  # ceil(-(c + r) / s)
        hi = (k - 1 - c - r) // s
        if lo <= hi:
            d_lo.append(lo)
            d_hi.append(hi)
    dmin, dmax = min(d_lo), max(d_hi)
    k_sub = dmax - dmin + 1
    taps = np.full((k_sub, s), -1, dtype=np.int64)
    for t in range(k_sub):
        for r in range(s):
            j = c + r + (dmax - t) * s
            if 0 <= j < k:
                taps[t, r] = j
    # Output length is (n - 1) * s + a = n * s + b0.
    a = 2 + left + right - k
    b0 = a - s
    extra_q = -((-b0) // s)  # ceil(b0 / s): Q = n + extra_q phase rows are computed.
    return {
        "taps": taps,
        "pad_before": dmax,
        "pad_after": extra_q - dmin,
        "crop_end": (-b0) % s,
    }


@keras.saving.register_keras_serializable(package="keraslab")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """2D transposed convolution, a drop-in for `keras.layers.Conv2DTranspose`.

    Why it exists: on JAX's CPU backend the gradient of Keras's transposed convolution
    (``lax.conv`` with ``lhs_dilation``) is pathologically slow, around 45x slower than an
    ordinary convolution (jax-ml/jax#23783, openxla/xla#34273). The ``"subpixel"``
    implementation computes the same function as ONE ordinary stride-1 convolution over the
    explicitly zero-padded input, with a kernel of shape ``(K'_h, K'_w, in_channels,
    s_h * s_w * filters)`` gathered from the stored kernel at each call, followed by a
    depth-to-space interleave. Forward and backward are then ordinary convolutions.

    The layer stores its weights exactly like `keras.layers.Conv2DTranspose` (``kernel`` of shape
    ``(kernel_h, kernel_w, filters, in_channels)``, ``bias`` of shape ``(filters,)``, same names and
    order), so ``set_weights(keras_layer.get_weights())`` gives the same outputs and ``.weights.h5``
    files are interchangeable with models that use the Keras layer.

    Restrictions: ``data_format="channels_last"`` and ``dilation_rate=1`` only.

    Args:
        filters: int. Number of output channels.
        kernel_size: int or tuple of 2 ints. Size of the transposed convolution window.
        strides: int or tuple of 2 ints. Upsampling factor along height and width.
        padding: str. ``"valid"`` or ``"same"`` (case-insensitive), as in Keras.
        output_padding: None, int or tuple of 2 ints. Extra output size on the bottom/right,
            as in Keras; each value must be smaller than the stride. None infers it.
        data_format: None or str. Must resolve to ``"channels_last"``.
        dilation_rate: int or tuple of 2 ints. Must be 1.
        activation: None, str or callable. Activation applied to the output.
        use_bias: bool. Whether to add a bias vector.
        kernel_initializer: str or initializer. Initializer of the kernel.
        bias_initializer: str or initializer. Initializer of the bias.
        kernel_regularizer: None, str or regularizer. Penalty on the kernel.
        bias_regularizer: None, str or regularizer. Penalty on the bias.
        activity_regularizer: None, str or regularizer. Penalty on the output.
        kernel_constraint: None, str or constraint. Projection applied to the kernel.
        bias_constraint: None, str or constraint. Projection applied to the bias.
        implementation: str. ``"subpixel"`` (one ordinary convolution + depth-to-space),
            ``"native"`` (``keras.ops.conv_transpose``, exactly like Keras) or ``"auto"``
            (``"subpixel"`` on backends where it was measured faster for forward+backward,
            currently JAX; ``"native"`` elsewhere).
        **kwargs: Base layer arguments (``name``, ``dtype``, ``trainable``, ...).

    Example:

    >>> import numpy as np
    >>> import keras
    >>> from keraslab.layers.conv import Conv2DTranspose
    >>> x = np.random.rand(2, 7, 7, 8).astype("float32")
    >>> ref = keras.layers.Conv2DTranspose(16, 4, strides=2, padding="same")
    >>> ours = Conv2DTranspose(16, 4, strides=2, padding="same", implementation="subpixel")
    >>> _ = ref(x), ours(x)
    >>> ours.set_weights(ref.get_weights())
    >>> to_np = keras.ops.convert_to_numpy
    >>> bool(np.allclose(to_np(ours(x)), to_np(ref(x)), atol=1e-5))
    True
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        if self.data_format != "channels_last":
            raise ValueError(
                "keraslab.layers.Conv2DTranspose supports only data_format='channels_last'. "
                f"Received data_format={self.data_format!r}; use keras.layers.Conv2DTranspose."
            )
        if tuple(self.dilation_rate) != (1, 1):
            raise ValueError(
                "keraslab.layers.Conv2DTranspose supports only dilation_rate=1. "
                f"Received dilation_rate={self.dilation_rate}; use keras.layers.Conv2DTranspose."
            )
        if self.padding not in ("same", "valid"):
            raise ValueError(
                f"padding must be 'same' or 'valid'. Received padding={self.padding!r}."
            )
        if implementation not in _IMPLEMENTATIONS:
            raise ValueError(
                f"implementation must be one of {_IMPLEMENTATIONS}. "
                f"Received implementation={implementation!r}."
            )
        self.implementation = implementation
        plans = []
        for axis in range(2):
            op = None if self.output_padding is None else self.output_padding[axis]
            plans.append(
                _subpixel_plan_1d(self.kernel_size[axis], self.strides[axis], self.padding, op)
            )
        self._plans = plans
        # Spatial index map (K'_h, K'_w, s_h, s_w) into the kernel's flattened spatial positions,
        # with kh * kw pointing at an extra zero slab.
        kh, kw = self.kernel_size
        taps_h, taps_w = plans[0]["taps"], plans[1]["taps"]
        th = taps_h[:, None, :, None]
        tw = taps_w[None, :, None, :]
        index = np.where((th >= 0) & (tw >= 0), th * kw + tw, kh * kw)
        self._subpixel_index = index.astype("int32")
        same = True
        for plan in plans:
            k_sub = plan["taps"].shape[0]
            before = (k_sub - 1) // 2
            same = same and (plan["pad_before"], plan["pad_after"]) == (before, k_sub - 1 - before)
        self._subpixel_conv_padding = "same" if same else "valid"

    @property
    def resolved_implementation(self):
        """The implementation used on the current backend: ``"subpixel"`` or ``"native"``."""
        if self.implementation == "auto":
            # With strides 1 the native op is already an ordinary convolution (no input
            # dilation), and it needs no gather nor structural-zero taps.
            strided = max(self.strides) > 1
            fast = keras.backend.backend() in _AUTO_SUBPIXEL_BACKENDS
            return "subpixel" if strided and fast else "native"
        return self.implementation

    def _subpixel_kernel(self, kernel):
        """Gather the (K'_h, K'_w, in, s_h * s_w * filters) kernel of the stride-1 convolution."""
        kh, kw, filters, in_channels = kernel.shape
        # (kh, kw, F, C) -> (kh * kw, C, F), plus a zero slab for structural zeros.
        flat = ops.reshape(ops.transpose(kernel, (0, 1, 3, 2)), (kh * kw, in_channels, filters))
        flat = ops.concatenate([flat, ops.zeros((1, in_channels, filters), dtype=flat.dtype)], 0)
        index = ops.convert_to_tensor(self._subpixel_index, dtype="int32")
        sub = ops.take(flat, index, axis=0)  # (K'h, K'w, sh, sw, C, F)
        sub = ops.transpose(sub, (0, 1, 4, 2, 3, 5))  # (K'h, K'w, C, sh, sw, F)
        k_h, k_w, sh, sw = self._subpixel_index.shape
        return ops.reshape(sub, (k_h, k_w, in_channels, sh * sw * filters))

    def _call_subpixel(self, inputs, kernel):
        plan_h, plan_w = self._plans
        sh, sw = self.strides
        x = inputs
        # Negative "padding" at the end means the last rows never contribute: crop them.
        crop_h = max(-plan_h["pad_after"], 0)
        crop_w = max(-plan_w["pad_after"], 0)
        if crop_h or crop_w:
            x = x[:, : -crop_h if crop_h else None, : -crop_w if crop_w else None, :]
        if self._subpixel_conv_padding == "same":
            # The explicit zero padding equals the stride-1 "same" padding of the sub-kernel
            # (TF convention, extra at the end; true of every backend's keras.ops.conv), so let
            # the convolution pad: same result, and a cheaper gradient than pad + "valid".
            conv_padding = "same"
        else:
            conv_padding = "valid"
            pads = [
                (0, 0),
                (plan_h["pad_before"], max(plan_h["pad_after"], 0)),
                (plan_w["pad_before"], max(plan_w["pad_after"], 0)),
                (0, 0),
            ]
            if any(p != (0, 0) for p in pads):
                x = ops.pad(x, pads)
        y = ops.conv(x, self._subpixel_kernel(kernel), strides=1, padding=conv_padding)
        # Depth-to-space: (B, Qh, Qw, sh * sw * F) -> (B, Qh * sh, Qw * sw, F).
        qh, qw = y.shape[1], y.shape[2]
        if qh is None or qw is None:
            dyn = ops.shape(y)
            qh = dyn[1] if qh is None else qh
            qw = dyn[2] if qw is None else qw
        y = ops.reshape(y, (-1, qh, qw, sh, sw, self.filters))
        y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
        y = ops.reshape(y, (-1, qh * sh, qw * sw, self.filters))
        ch, cw = plan_h["crop_end"], plan_w["crop_end"]
        if ch or cw:
            y = y[:, : -ch if ch else None, : -cw if cw else None, :]
        return y

    def call(self, inputs):
        if self.resolved_implementation == "native":
            outputs = ops.conv_transpose(
                inputs,
                self.kernel,
                strides=list(self.strides),
                padding=self.padding,
                output_padding=self.output_padding,
                dilation_rate=self.dilation_rate,
                data_format=self.data_format,
            )
        else:
            outputs = self._call_subpixel(inputs, self.kernel)
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"implementation": self.implementation})
        return config
