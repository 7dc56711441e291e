"""Small file helpers: atomic writes (temp file in the same folder, then rename) and PNG grids."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file; a crash leaves at most a ``.tmp-*`` file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".tmp-{path.name}-", suffix=suffix or path.suffix, dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: give the mode open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj) -> None:
    """``obj`` as JSON, atomically; non-finite floats become null (they are not JSON)."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, default=_json_default)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    np = sys.modules.get("numpy")  # numpy values exist only once numpy is imported
    if np is None:
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def decode_utf8(raw: bytes, name: str) -> str:
    """``raw`` as text; a one-line UserError naming ``name`` (a path, "standard input"), the line
    and the byte when it is not UTF-8. A leading byte-order mark is dropped."""
    from keraslab.errors import UserError

    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(
            f"{name} is not UTF-8 text (line {line}, byte 0x{raw[e.start]:02x} at offset "
            f"{e.start}): save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`."
        ) from None


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images (N, H, W, C) with values in [0, 1] (or uint8) into one uint8 (rows, cols, C) array."""
    import numpy as np

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}.")
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def save_image_grid(images: np.ndarray, path, ncols: int | None = None, scale: int = 1) -> Path:
    """Save images (N, H, W, C) in [0, 1] as one PNG grid, atomically. Returns the path."""
    from PIL import Image

    grid = image_grid(images, ncols)
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return path
