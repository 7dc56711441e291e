"""Cached features of real images (the reference side of FID/KID), per extractor and split.

Inception features of 10k test images take ~20 minutes on 2 CPU cores: they are computed once and
cached in ``$KERASLAB_CACHE`` (default ``~/.cache/keraslab``) as ``features/<extractor>-<dataset>-
<split>-<n>.npz`` (the first ``n`` images of the split).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keraslab.io import atomic_path


def cache_dir() -> Path:
    return Path(os.environ.get("KERASLAB_CACHE", "~/.cache/keraslab")).expanduser()


def reference_features(
    dataset: str, split: str, n: int, extractor_name: str, extractor, images
) -> np.ndarray:
    """Features of ``images`` (the first ``n`` of ``dataset``'s ``split``), cached on disk."""
    path = cache_dir() / "features" / f"{extractor_name}-{dataset}-{split}-{n}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                feats = data["features"]
            if len(feats) == n:
                return feats.astype(np.float64)
        except Exception:  # a damaged cache entry is recomputed
            pass
    feats = np.asarray(extractor(images[:n]), dtype=np.float64)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, features=feats.astype(np.float32))
    return feats
