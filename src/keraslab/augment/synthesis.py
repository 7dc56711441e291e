"""Synthetic rows of a mixed numeric / categorical table from a model trained on it, per class,
with the tabular VAE (:mod:`keraslab.augment.tabular_vae`) or the tabular GAN
(:mod:`keraslab.augment.tabular_gan`) on the matrix of
:class:`~keraslab.augment.table_encoding.TableTransform`.

:func:`synthesize` fits a model of the matrix with the
class as a one-hot condition and samples rows of the classes asked for;
``oversample(df, target, method="vae"|"gan")`` balances a table with it.

Example:
    >>> new = synthesize(df, target="label", counts={"rare": 200}, method="gan", seed=0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keraslab.augment.table_encoding import TableTransform

MODELS = ("vae", "gan")
# optimizer steps when no epochs are given (measured in BENCHMARKS.md)
UPDATES = {"vae": 2000, "gan": 3000}


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
            (:class:`~keraslab.runs.callbacks.ProgressLines`); 0: none.
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
    from keraslab.runs.callbacks import ProgressLines

    label = f"tabular {method.upper()} ({len(batches)} batches of {batch_size} per epoch)"
    callbacks = [ProgressLines(epochs, label)] if verbose else []
    model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
    wanted = [index[c] for c, n in counts.items() for _ in range(int(n))]
    rows = model.sample_rows(np.asarray(wanted, int), seed=seed)
    out = transform.inverse(rows)
    out[target] = pd.Series([classes[i] for i in wanted], dtype=object).astype(df[target].dtype)
    return out[list(df.columns)]
