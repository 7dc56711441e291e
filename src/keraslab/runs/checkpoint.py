"""Checkpoints that hold everything needed to resume: weights, every optimizer's state, seed
state and the epoch counter. One ``.npz`` per checkpoint, written atomically."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np

from keraslab.io import atomic_path

FORMAT = "keraslab-checkpoint-1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not fit the model."""


def _state_variables(model) -> list:
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    return variables


def save_checkpoint(model, path, epoch: int, meta: dict | None = None) -> Path:
    """Write ``model``'s full training state after ``epoch`` epochs to ``path`` (atomic)."""
    variables = _state_variables(model)
    arrays = {f"v{i:05d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(variables)}
    header = {
        "format": FORMAT,
        "epoch": int(epoch),
        "count": len(arrays),
        "meta": meta or {},
        "paths": [v.path for v in variables],
    }
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def _read(path, values: bool) -> tuple[dict, list]:
    """Header and (if ``values``) every array of a checkpoint; CheckpointError if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["__header__"]).decode())
            if header.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a keraslab checkpoint.")
            arrays = [data[f"v{i:05d}"] for i in range(header["count"])] if values else []
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist.") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupt ({type(e).__name__}); delete it or resume from another."
        ) from None
    return header, arrays


def read_header(path) -> dict:
    return _read(path, values=False)[0]


def load_checkpoint(model, path) -> dict:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``model`` (compiled, same
    architecture). Returns the header (``epoch``, ``meta``). Nothing is assigned unless every
    array reads back and matches."""
    header, values = _read(path, values=True)
    variables = _state_variables(model)
    if len(values) != len(variables):
        raise CheckpointError(
            f"checkpoint {path} holds {len(values)} variables, the model has {len(variables)}: "
            "it was written by a different model or settings."
        )
    for v, val in zip(variables, values):
        if tuple(v.shape) != tuple(val.shape):
            raise CheckpointError(
                f"checkpoint {path}: {v.path} has shape {val.shape}, model expects {tuple(v.shape)}."
            )
    for v, val in zip(variables, values):
        v.assign(val)
    return header


def load_run_checkpoint(model, run, which: str = "last") -> dict:
    """Load ``run``'s ``last`` or ``best`` checkpoint into ``model``; its header. A missing or
    damaged file is a one-line :class:`~keraslab.errors.UserError`."""
    from keraslab.errors import UserError

    try:
        return load_checkpoint(model, run.checkpoint(which))
    except CheckpointError as e:
        raise UserError(str(e)) from None
