"""When does oversampling help? Train a classifier on an imbalanced table as it is and after
SMOTE / ADASYN (numeric), SMOTE-NC (mixed types) or the tabular VAE (any table; needs a Keras
backend) from :func:`keraslab.augment.tabular.oversample`;
test on an untouched, equally imbalanced test split. Minority-class recall and macro-F1, mean +-
std over seeds (each seed: its own subsample, split and oversampling).

Tables (all offline):
- breast-cancer: scikit-learn's, the malignant class cut to 10% of its rows (~21 of 212);
- wine: scikit-learn's, class 2 cut to 8 rows (3 classes);
- adult-like: a generated mixed table (ages, hours, capital gain; education, occupation, sex),
  income > 50K for ~8% of rows through a noisy rule of the columns.

    python benchmarks/augment_tables.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import statistics
import time

from keraslab.quiet import silence_tensorflow_import

silence_tensorflow_import()  # the tabular VAE's backend may be TensorFlow

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_wine  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score, recall_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from keraslab.augment.tabular import _categorical_columns, oversample  # noqa: E402


def breast_cancer(seed):
    df = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(seed)
    keep = (df.target == 1) | (rng.random(len(df)) < 0.10)
    return df[keep].reset_index(drop=True), "target", 0


def wine(seed):
    df = load_wine(as_frame=True).frame
    rare = df[df.target == 2].sample(8, random_state=seed)
    return pd.concat([df[df.target != 2], rare]).reset_index(drop=True), "target", 2


def adult_like(seed, n=3000):
    rng = np.random.default_rng(seed)
    education = rng.choice(["school", "college", "bachelor", "master", "doctorate"], n,
                           p=[0.35, 0.3, 0.2, 0.1, 0.05])  # fmt: skip
    occupation = rng.choice(["service", "craft", "sales", "office", "manager", "professional"], n)
    sex = rng.choice(["female", "male"], n)
    age = rng.integers(18, 70, n)
    hours = np.clip(rng.normal(40, 10, n), 5, 90).round().astype(int)
    gain = np.where(rng.random(n) < 0.1, rng.exponential(5000, n), 0.0).round(0)
    edu_score = pd.Series(education).map(
        {"school": 0, "college": 0.5, "bachelor": 1.2, "master": 1.8, "doctorate": 2.2}
    )
    occ_score = pd.Series(occupation).map(
        {
            "service": -0.5,
            "craft": 0,
            "sales": 0.2,
            "office": 0.1,
            "manager": 1.0,
            "professional": 1.0,
        }
    )
    logit = (-4.6 + edu_score + occ_score + 0.03 * (age - 18) + 0.04 * (hours - 40)
             + 0.0003 * gain + rng.normal(0, 1.5, n))  # fmt: skip
    df = pd.DataFrame({"age": age, "education": education, "occupation": occupation, "sex": sex,
                       "hours": hours, "capital_gain": gain,
                       "income": np.where(logit > 0, ">50K", "<=50K")})  # fmt: skip
    return df, "income", ">50K"


TABLES = {"breast-cancer": breast_cancer, "wine": wine, "adult-like": adult_like}


def classifier(features: pd.DataFrame):
    categorical = _categorical_columns(features)
    numeric = [c for c in features.columns if c not in categorical]
    prep = ColumnTransformer(
        [("num", StandardScaler(), numeric)]
        + ([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)] if categorical else [])
    )
    return make_pipeline(prep, LogisticRegression(max_iter=2000))


def run(table, seeds, k, epochs):
    rows = {}
    for seed in seeds:
        df, target, minority = TABLES[table](seed)
        train, test = train_test_split(df, test_size=0.3, stratify=df[target], random_state=seed)
        mixed = bool(_categorical_columns(df.drop(columns=[target])))
        methods = ["none", "smotenc"] if mixed else ["none", "smote", "adasyn"]
        methods += ["vae"]
        for method in methods:
            t0 = time.time()
            data = train if method == "none" else oversample(train, target, method, k, seed, epochs)
            seconds = time.time() - t0
            x = data.drop(columns=[target])
            model = classifier(x).fit(x, data[target])
            pred = model.predict(test.drop(columns=[target]))
            recall = recall_score(test[target], pred, labels=[minority], average="macro")
            f1 = f1_score(test[target], pred, average="macro")
            rows.setdefault(method, []).append((recall, f1, seconds, len(data) - len(train)))
    counts = df[target].value_counts().to_dict()
    print(f"\n{table}: {len(df)} rows, classes {counts}; minority {minority!r}; test 30%")
    for method, values in rows.items():
        recall, f1, secs, added = zip(*values)

        def ms(v):
            return f"{statistics.mean(v):.3f} +- {statistics.stdev(v) if len(v) > 1 else 0:.3f}"

        print(f"  {method:8s} minority recall {ms(recall)}  macro-F1 {ms(f1)}  "
              f"+{statistics.mean(added):.0f} rows in {1000 * statistics.mean(secs):.0f} ms")  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--tables", nargs="+", default=list(TABLES))
    p.add_argument(
        "--epochs", type=int, default=None, help="tabular VAE epochs (default ~2,000 updates)"
    )
    args = p.parse_args()
    print(
        f"logistic regression (scaled numbers, one-hot categories); seeds {args.seeds}; k={args.k}"
    )
    for table in args.tables:
        run(table, args.seeds, args.k, args.epochs)


if __name__ == "__main__":
    main()
