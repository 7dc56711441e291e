"""Balancing a table by oversampling its rare classes: SMOTE, SMOTE-NC and ADASYN through
imbalanced-learn (Chawla et al. 2002; He et al. 2008), with the table's schema kept.

:func:`oversample` takes a pandas DataFrame and its class column and returns the table with
synthetic rows appended until every class is as large as the largest (ADASYN: about as large).
Integer columns stay integers (rounded), categorical columns keep their categories (SMOTE-NC
picks the most frequent category among the neighbours), and the column order and names are the
input's. The original rows come first, unchanged.

Example:
    >>> balanced = oversample(df, target="label", method="smote", k=5, seed=0)
    >>> balanced["label"].value_counts()
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keraslab.augment.synthesis import MODELS
from keraslab.errors import UserError

METHODS = ("smote", "smotenc", "adasyn", *MODELS)


def _categorical_columns(df: pd.DataFrame) -> list[str]:
    return [
        c
        for c in df.columns
        if not (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))
    ]


def check_table(df: pd.DataFrame, target: str, method: str, k: int, name: str = "the table"):
    """One-line UserErrors for a table the method cannot balance."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    if target not in df.columns:
        raise UserError(
            f"{name} has no column {target!r}: its columns are {', '.join(map(str, df.columns))}."
        )
    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise UserError(f"{name} has no columns besides {target!r} to learn from.")
    if df[target].isna().any():
        raise UserError(f"{name}: {int(df[target].isna().sum())} rows have no {target!r}.")
    missing = features.columns[features.isna().any()].tolist()
    if missing:
        raise UserError(
            f"{name}: column {missing[0]!r} has empty cells: fill or drop them first "
            "(SMOTE interpolates between complete rows)."
        )
    counts = df[target].value_counts()
    if len(counts) < 2:
        raise UserError(
            f"{name}: {target!r} has one class ({str(counts.index[0])!r}): nothing to balance."
        )
    smallest, rare = int(counts.min()), counts.idxmin()
    if method in MODELS:  # no neighbours: any class size, any column types
        return
    if smallest <= k:
        raise UserError(
            f"{name}: class {str(rare)!r} has {smallest} rows, and {method} needs more than --k {k} "
            f"neighbours: use --k {max(1, smallest - 1)} or fewer"
            + ("." if smallest > 1 else " (a class of one row cannot be oversampled).")
        )
    categorical = _categorical_columns(features)
    if method in ("smote", "adasyn") and categorical:
        raise UserError(
            f"{name}: column {categorical[0]!r} is not numeric: {method} interpolates numbers; "
            "use --method smotenc for tables with categorical columns."
        )
    if method == "smotenc" and not categorical:
        raise UserError(f"{name} has no categorical columns: use --method smote.")
    if method == "smotenc" and len(categorical) == features.shape[1]:
        raise UserError(
            f"{name} has only categorical columns: SMOTE-NC needs at least one numeric column "
            "(imbalanced-learn's SMOTEN handles all-categorical tables)."
        )


def oversample(
    df: pd.DataFrame,
    target: str,
    method: str = "smote",
    k: int = 5,
    seed: int = 0,
    epochs: int | None = None,
    name: str = "the table",
    verbose: int = 0,
) -> pd.DataFrame:
    """``df`` with synthetic rows of its smaller classes appended (see the module docstring);
    ``method="vae"`` or ``"gan"`` samples them from a
    :class:`~keraslab.augment.tabular_vae.TabularVAE` or
    :class:`~keraslab.augment.tabular_gan.TabularGAN` trained on the whole table (``epochs``;
    default: :data:`~keraslab.augment.synthesis.UPDATES`; needs Keras)."""
    from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC

    check_table(df, target, method, k, name)
    if method in MODELS:
        from keraslab.augment.synthesis import synthesize

        counts = df[target].value_counts()
        wanted = {c: int(counts.max() - n) for c, n in counts.items()}
        new = synthesize(df, target, wanted, method, epochs=epochs, seed=seed, verbose=verbose)
        return pd.concat([df, new], ignore_index=True)
    features = df.drop(columns=[target])
    categorical = _categorical_columns(features)
    if method == "smote":
        sampler = SMOTE(k_neighbors=k, random_state=seed)
    elif method == "adasyn":
        sampler = ADASYN(n_neighbors=k, random_state=seed)
    else:
        sampler = SMOTENC(
            categorical_features=[features.columns.get_loc(c) for c in categorical],
            k_neighbors=k,
            random_state=seed,
        )
    x = features if method == "smotenc" else features.astype("float64")
    try:
        x_new, y_new = sampler.fit_resample(x, df[target])
    except (ValueError, RuntimeError) as e:  # e.g. ADASYN: no neighbour of another class
        first = str(e).strip().splitlines()[0][:200]
        raise UserError(f"{method} could not balance the table: {first}") from None
    x_new = pd.DataFrame(x_new, columns=features.columns)
    out = x_new.copy()
    out[target] = np.asarray(y_new)
    out = out[list(df.columns)]
    for column in features.columns:  # the input's dtypes: integers rounded, categories kept
        dtype = df[column].dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[column] = out[column].astype(float).round().astype(bool)
        elif pd.api.types.is_integer_dtype(dtype):
            out[column] = np.rint(out[column].astype("float64")).astype(dtype)
        else:
            out[column] = out[column].astype(dtype)
    out[target] = out[target].astype(df[target].dtype)
    return out.reset_index(drop=True)  # imbalanced-learn keeps the originals first, in order


def read_table(path) -> pd.DataFrame:
    """A user's CSV (with a header row), one-line errors for what is not one."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir() or not p.is_file():
        raise UserError(f"{p} is not a file: give a CSV with a header row.")
    import io

    from keraslab.io import decode_utf8

    text = decode_utf8(p.read_bytes(), str(p))
    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else "empty"
        raise UserError(f"{p} is not a CSV table ({first}).") from None
    if df.empty:
        raise UserError(f"{p} has a header but no rows.")
    return df


def balance_csv(path, out, options, echo=print) -> pd.DataFrame:
    """``keraslab augment table``: the CSV at ``path`` balanced with ``options.method``, written
    to ``out`` (refused if it exists); the class counts before and after are echoed."""
    from pathlib import Path

    from keraslab.io import atomic_path

    out = Path(out)
    if out.exists():
        raise UserError(f"{out} exists: choose another --out (nothing was written).")
    df = read_table(path)
    balanced = oversample(
        df,
        options.target,
        options.method,
        options.k,
        options.seed,
        options.epochs,
        str(path),
        verbose=1,
    )

    def counts(frame):
        c = frame[options.target].value_counts().sort_index()
        return ", ".join(f"{k} {v:,}" for k, v in c.items())

    with atomic_path(out, suffix=".csv") as tmp:
        balanced.to_csv(tmp, index=False)
    how = options.method if options.method in MODELS else f"{options.method}, k={options.k}"
    echo(f"{options.target}: {counts(df)} -> {counts(balanced)} ({how})")
    echo(f"wrote {len(balanced):,} rows ({len(balanced) - len(df):,} synthetic) to {out}")
    return balanced
