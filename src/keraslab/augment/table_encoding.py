"""A mixed numeric / categorical table as a float matrix and back, for the tabular VAE and GAN
(:mod:`keraslab.augment.tabular_vae`, :mod:`keraslab.augment.tabular_gan`).

:class:`TableTransform` turns a DataFrame into a float matrix and back: each numeric column
standardised (integers rounded back, values clipped to the range seen in training), each
categorical or boolean column one-hot. :func:`sample_categories` draws the one-hot blocks of new
rows from a model's logits. Keras-free.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class TableTransform:
    """Columns of a DataFrame to a float32 matrix (standardised numbers, one-hot categories)
    and back, keeping names, dtypes and the categories seen.

    Example:
        >>> t = TableTransform().fit(df.drop(columns="label"))
        >>> m = t.transform(df.drop(columns="label"))      # (n, t.width) float32
        >>> t.inverse(m)                                    # a DataFrame like the input
    """

    def fit(self, df: pd.DataFrame) -> TableTransform:
        self.columns, self.dtypes, self.spans = list(df.columns), df.dtypes.to_dict(), []
        start = 0
        for c in self.columns:
            s = df[c]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                values = s.to_numpy("float64")
                std = float(values.std()) or 1.0
                info = {"mean": float(values.mean()), "std": std,
                        "min": float(values.min()), "max": float(values.max())}  # fmt: skip
                self.spans.append((c, "numeric", start, 1, info))
                start += 1
            else:
                categories = list(pd.unique(s))
                self.spans.append((c, "categorical", start, len(categories), categories))
                start += len(categories)
        self.width = start
        return self

    @property
    def numeric_index(self) -> list[int]:
        return [start for _, kind, start, _, _ in self.spans if kind == "numeric"]

    @property
    def categorical_spans(self) -> list[tuple[int, int]]:
        return [(start, w) for _, kind, start, w, _ in self.spans if kind == "categorical"]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(df), self.width), "float32")
        for c, kind, start, _, info in self.spans:
            if kind == "numeric":
                out[:, start] = (df[c].to_numpy("float64") - info["mean"]) / info["std"]
            else:
                index = {v: i for i, v in enumerate(info)}
                codes = np.array([index[v] for v in df[c]])
                out[np.arange(len(df)), start + codes] = 1.0
        return out

    def inverse(self, m: np.ndarray) -> pd.DataFrame:
        data = {}
        for c, kind, start, width, info in self.spans:
            if kind == "numeric":
                v = m[:, start].astype("float64") * info["std"] + info["mean"]
                v = np.clip(v, info["min"], info["max"])
                if pd.api.types.is_integer_dtype(self.dtypes[c]):
                    v = np.rint(v)
                data[c] = pd.Series(v).astype(self.dtypes[c])
            else:
                codes = np.argmax(m[:, start : start + width], axis=1)
                values = pd.Series([info[i] for i in codes])
                data[c] = values.astype(self.dtypes[c])
        return pd.DataFrame(data)[self.columns]


def sample_categories(rows: np.ndarray, out: np.ndarray, categorical, rng) -> None:
    """Fill each categorical block ``(start, width)`` of ``rows`` with a one-hot category drawn
    from the softmax of the model's logits in ``out`` (in place; one ``rng`` draw per block)."""
    for start, width in categorical:
        logits = out[:, start : start + width]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        pick = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)
        rows[np.arange(len(p)), start + pick] = 1.0
