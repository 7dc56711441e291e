"""Synthetic rows of a mixed numeric / categorical table from a model trained on it, per class:
the shared part of the tabular VAE (:mod:`keraslab.augment.tabular_vae`) and the tabular GAN
(:mod:`keraslab.augment.tabular_gan`).

:class:`TableTransform` turns a DataFrame into a float matrix and back: each numeric column
standardised (integers rounded back, values clipped to the range seen in training), each
categorical or boolean column one-hot. :func:`synthesize` fits a model of the matrix with the
class as a one-hot condition and samples rows of the classes asked for;
``oversample(df, target, method="vae"|"gan")`` balances a table with it.

Example:
    >>> new = synthesize(df, target="label", counts={"rare": 200}, method="gan", seed=0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MODELS = ("vae", "gan")
# optimizer steps when no epochs are given (measured in BENCHMARKS.md)
UPDATES = {"vae": 2000, "gan": 3000}


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


def synthesize(
    df: pd.DataFrame,
    target: str,
    counts: dict,
    method: str = "vae",
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    verbose: int = 0,
) -> pd.DataFrame:
    """New rows: ``counts[c]`` rows of each class ``c`` of ``df[target]``, from a model of the
    whole table (every class informs the shared networks) conditioned on the class.

    Args:
        method: ``"vae"`` (:class:`~keraslab.augment.tabular_vae.TabularVAE`, the rows as they
            are) or ``"gan"`` (:class:`~keraslab.augment.tabular_gan.TabularGAN`, fed rows drawn
            with the classes equally often: CTGAN's "training by sampling", so that a rare class
            conditions the generator as often as a common one).
        epochs: passes over the table; default about ``UPDATES[method]`` updates, whatever the
            table's size.
        batch_size: default 64 (vae) or 128 (gan), at most the table's size.
        verbose: 1: about ten progress lines on stderr
            (:class:`~keraslab.callbacks.ProgressLines`); 0: none.
    """
    if method not in MODELS:
        raise ValueError(f"method must be one of {MODELS}, got {method!r}.")
    from keraslab.data.batches import ArrayBatches, BalancedBatches
    from keraslab.engine.seeding import set_seed

    features = df.drop(columns=[target])
    transform = TableTransform().fit(features)
    classes = list(pd.unique(df[target]))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in df[target]])
    x = np.concatenate(
        [transform.transform(features), np.eye(len(classes), dtype="float32")[y]], axis=1
    )
    set_seed(seed)
    if method == "vae":
        from keraslab.augment.tabular_vae import TabularVAE as Model
    else:
        from keraslab.augment.tabular_gan import TabularGAN as Model
    model = Model(transform.numeric_index, transform.categorical_spans, len(classes), seed=seed)
    model.compile()
    batch_size = min(batch_size or (64 if method == "vae" else 128), len(x))
    if method == "gan":
        batches = BalancedBatches(x, y, batch_size, seed)
    else:
        batches = ArrayBatches(x, None, batch_size, seed)
    if epochs is None:
        epochs = max(10, round(UPDATES[method] / len(batches)))
    from keraslab.callbacks import ProgressLines

    label = f"tabular {method.upper()} ({len(batches)} batches of {batch_size} per epoch)"
    callbacks = [ProgressLines(epochs, label)] if verbose else []
    model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
    wanted = [index[c] for c, n in counts.items() for _ in range(int(n))]
    rows = model.sample_rows(np.asarray(wanted, int), seed=seed)
    out = transform.inverse(rows)
    out[target] = pd.Series([classes[i] for i in wanted], dtype=object).astype(df[target].dtype)
    return out[list(df.columns)]
