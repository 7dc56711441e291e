"""Offline datasets (see DATA.md in the README for install commands)."""

from keraslab.data.images import (
    DataSourceMissing,
    dataset_names,
    get_dataset,
    is_installed,
    load,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "DataSourceMissing",
    "dataset_names",
    "get_dataset",
    "is_installed",
    "load",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
]
