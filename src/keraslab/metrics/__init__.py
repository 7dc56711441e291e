"""Generative-model metrics: FID, KID and an Inception feature extractor.

``InceptionFeatures`` is loaded lazily, so importing ``keraslab.metrics`` does
not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keraslab.metrics.fid import feature_statistics, fid, frechet_distance, kid

if TYPE_CHECKING:
    from keraslab.metrics.inception import InceptionFeatures

__all__ = ["InceptionFeatures", "feature_statistics", "fid", "frechet_distance", "kid"]


def __getattr__(name: str) -> Any:
    if name == "InceptionFeatures":
        from keraslab.metrics.inception import InceptionFeatures

        return InceptionFeatures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
