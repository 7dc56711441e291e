"""Oversampling tables: the rows equal imbalanced-learn's own for the same seed (we wrap, not
re-implement), the schema is kept, and a table that cannot be balanced is one line."""

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC

from keraslab.augment.tabular import oversample
from keraslab.errors import UserError


def _numeric(n_major=120, n_minor=15, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "a": np.r_[rng.normal(0, 1, n_major), rng.normal(2, 1, n_minor)],
            "b": np.r_[rng.normal(0, 1, n_major), rng.normal(-1, 1, n_minor)],
            "count": rng.integers(0, 20, n_major + n_minor),
            "label": ["common"] * n_major + ["rare"] * n_minor,
        }
    )
    return df


def _mixed(seed=0):
    df = _numeric(seed=seed)
    rng = np.random.default_rng(seed + 1)
    df.insert(2, "colour", pd.Categorical(rng.choice(["red", "green", "blue"], len(df))))
    df.insert(3, "city", rng.choice(["Lyon", "Oslo"], len(df)))
    return df


@pytest.mark.parametrize("method, sampler", [("smote", SMOTE), ("adasyn", ADASYN)])
def test_numeric_oversampling_equals_imbalanced_learn(method, sampler):
    df = _numeric()
    out = oversample(df, "label", method, k=5, seed=3)
    key = "k_neighbors" if method == "smote" else "n_neighbors"
    x, y = sampler(**{key: 5}, random_state=3).fit_resample(
        df.drop(columns="label").astype("float64"), df["label"]
    )
    np.testing.assert_array_equal(out[["a", "b"]].to_numpy(), x[["a", "b"]].to_numpy())
    np.testing.assert_array_equal(out["count"], np.rint(x["count"]).astype(int))
    assert list(out["label"]) == list(y)
    assert list(out.columns) == list(df.columns) and out.dtypes.equals(df.dtypes)
    pd.testing.assert_frame_equal(out.iloc[: len(df)], df)  # the originals first, unchanged
    counts = out["label"].value_counts()
    if method == "smote":
        assert counts["rare"] == counts["common"] == 120


def test_smotenc_keeps_categories_and_equals_imbalanced_learn():
    df = _mixed()
    out = oversample(df, "label", "smotenc", k=5, seed=1)
    features = df.drop(columns="label")
    x, _ = SMOTENC(categorical_features=[2, 3], k_neighbors=5, random_state=1).fit_resample(
        features, df["label"]
    )
    assert list(out["colour"].astype(str)) == list(x["colour"].astype(str))
    assert set(out["colour"].astype(str)) <= {"red", "green", "blue"}
    assert set(out["city"]) <= {"Lyon", "Oslo"}
    assert out["colour"].dtype == df["colour"].dtype and out.dtypes.equals(df.dtypes)
    assert not out.isna().any().any()
    np.testing.assert_allclose(out["a"].to_numpy(), x["a"].to_numpy().astype(float))


@pytest.mark.parametrize(
    "change, method, k, fragment",
    [
        (lambda d: d.drop(columns="label"), "smote", 5, "no column 'label'"),
        (lambda d: d.assign(label="common"), "smote", 5, "one class"),
        (lambda d: d.iloc[:124], "smote", 5, "class 'rare' has 4 rows"),
        (lambda d: d, "smote", 15, "use --k 14 or fewer"),
        (lambda d: d.assign(city="Oslo"), "smote", 5, "use --method smotenc"),
        (lambda d: d, "smotenc", 5, "no categorical columns"),
        (lambda d: d.assign(a=np.nan), "smote", 5, "empty cells"),
    ],
)
def test_tables_that_cannot_be_balanced_are_one_line(change, method, k, fragment):
    df = change(_numeric())
    before = df.copy()
    with pytest.raises(UserError) as e:
        oversample(df, "label", method, k=k)
    assert fragment in str(e.value) and "\n" not in str(e.value)
    pd.testing.assert_frame_equal(df, before)  # the input is never modified
