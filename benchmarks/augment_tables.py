"""When does oversampling help? Train a classifier on an imbalanced table as it is and after
SMOTE / ADASYN (numeric), SMOTE-NC (mixed types) or the tabular VAE / GAN (any table; need a Keras
backend) from :func:`keraslab.augment.tabular.oversample`;
test on an untouched, equally imbalanced test split. Minority-class recall and macro-F1, mean +-
std over seeds (each seed: its own subsample, split and oversampling), and the seconds each
synthesiser took.

``--anchors`` adds the ``ctgan`` package's CTGAN and TVAE (default settings; CTGAN sampled per
class with ``condition_column``, TVAE by keeping the sampled rows of the class wanted) and scores
every synthesiser with sdmetrics' quality report (column shapes, column-pair trends): its new
rows of the rare classes against the real rows of those classes in the training split, and for
the generative models a whole synthetic table (the training split's class counts) against the
training split. ctgan and sdmetrics pin pandas < 3: ``make benchmark-tables`` runs this in a
venv of its own.

Tables (all offline):
- breast-cancer: scikit-learn's, the malignant class cut to 10% of its rows (~21 of 212);
- wine: scikit-learn's, class 2 cut to 8 rows (3 classes);
- adult-like: a generated mixed table (ages, hours, capital gain; education, occupation, sex),
  income > 50K for ~8% of rows through a noisy rule of the columns.

    python benchmarks/augment_tables.py --seeds 0 1 2 3 4
    make benchmark-tables      # = .venv-anchors/bin/python benchmarks/augment_tables.py --anchors
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from keraslab.cli.quiet import silence_tensorflow_import

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


def _needed(train, target):
    counts = train[target].value_counts()
    return {c: int(counts.max() - n) for c, n in counts.items() if counts.max() > n}


def ctgan_rows(kind, train, target, seed):
    """New rows of the rarer classes from the ``ctgan`` package's CTGAN or TVAE (defaults), and
    the fitted model (for a whole synthetic table)."""
    import torch
    from ctgan import CTGAN, TVAE

    torch.manual_seed(seed)
    discrete = _categorical_columns(train.drop(columns=[target])) + [target]
    model = (CTGAN if kind == "ctgan" else TVAE)()
    model.set_random_state(seed) if hasattr(model, "set_random_state") else None
    model.fit(train, discrete_columns=discrete)
    parts = []
    for c, n in _needed(train, target).items():  # CTGAN's condition is a strong hint, not a rule
        got, tries = [], 0
        while sum(map(len, got)) < n and tries < 100:
            if kind == "ctgan":
                rows = model.sample(max(n, 100), condition_column=target, condition_value=c)
            else:  # TVAE samples no class on demand
                rows = model.sample(max(1000, 10 * n))
            got.append(rows[rows[target] == c])
            tries += 1
        parts.append(pd.concat(got).head(n))
    new = pd.concat(parts, ignore_index=True)
    return new, model


def quality(real, synthetic, target):
    """sdmetrics' QualityReport: (overall, column shapes, column-pair trends) in [0, 1]."""
    from sdmetrics.reports.single_table import QualityReport

    categorical = set(_categorical_columns(real)) | {target}
    columns = {
        c: {"sdtype": "categorical" if c in categorical else "numerical"} for c in real.columns
    }
    real = real.copy()
    synthetic = synthetic.copy()[list(real.columns)]
    for c, meta in columns.items():  # sdmetrics reads a categorical column's values as labels
        if meta["sdtype"] == "categorical":
            real[c], synthetic[c] = real[c].astype(str), synthetic[c].astype(str)
    report = QualityReport()
    report.generate(real, synthetic, {"columns": columns}, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return report.get_score(), props["Column Shapes"], props["Column Pair Trends"]


def run(table, seeds, k, epochs, anchors=False):
    from keraslab.augment.synthesis import synthesize

    rows, scores = {}, {}
    for seed in seeds:
        df, target, minority = TABLES[table](seed)
        train, test = train_test_split(df, test_size=0.3, stratify=df[target], random_state=seed)
        train = train.reset_index(drop=True)
        mixed = bool(_categorical_columns(df.drop(columns=[target])))
        methods = ["none", "smotenc"] if mixed else ["none", "smote", "adasyn"]
        methods += ["vae", "gan"] + (["ctgan", "tvae"] if anchors else [])
        rare = train[train[target].isin(_needed(train, target))]
        for method in methods:
            t0 = time.time()
            model = None
            if method in ("ctgan", "tvae"):
                new, model = ctgan_rows(method, train, target, seed)
                data = pd.concat([train, new.astype(train.dtypes.to_dict())], ignore_index=True)
            elif method == "none":
                data = train
            else:
                data = oversample(train, target, method, k, seed, epochs)
            seconds = time.time() - t0
            x = data.drop(columns=[target])
            clf = classifier(x).fit(x, data[target])
            pred = clf.predict(test.drop(columns=[target]))
            recall = recall_score(test[target], pred, labels=[minority], average="macro")
            f1 = f1_score(test[target], pred, average="macro")
            rows.setdefault(method, []).append((recall, f1, seconds, len(data) - len(train)))
            if anchors and method != "none":
                new = data.iloc[len(train) :]
                q_rare = quality(rare, new, target)
                counts = train[target].value_counts().to_dict()
                if method in ("vae", "gan"):
                    whole = synthesize(train, target, counts, method, epochs=epochs, seed=seed)
                elif model is not None:
                    whole = model.sample(len(train))
                else:
                    whole = None  # SMOTE & co. make rows of the rare classes only
                q_all = quality(train, whole, target) if whole is not None else (math.nan,) * 3
                scores.setdefault(method, []).append((*q_rare, *q_all))
    counts = df[target].value_counts().to_dict()
    print(f"\n{table}: {len(df)} rows, classes {counts}; minority {minority!r}; test 30%")

    def ms(v):
        v = [x for x in v if not math.isnan(x)]
        if not v:
            return "    -        "
        return f"{statistics.mean(v):.3f} +- {statistics.stdev(v) if len(v) > 1 else 0:.3f}"

    for method, values in rows.items():
        recall, f1, secs, added = zip(*values)
        print(f"  {method:8s} minority recall {ms(recall)}  macro-F1 {ms(f1)}  "
              f"+{statistics.mean(added):.0f} rows in {statistics.mean(secs):.1f} s")  # fmt: skip
    if scores:
        print("  sdmetrics quality (overall / column shapes / pair trends):")
        for method, values in scores.items():
            v = list(zip(*values))
            print(f"  {method:8s} rare rows {ms(v[0])} / {ms(v[1])} / {ms(v[2])};  "
                  f"whole table {ms(v[3])} / {ms(v[4])} / {ms(v[5])}")  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--tables", nargs="+", default=list(TABLES))
    p.add_argument(
        "--epochs", type=int, default=None, help="tabular VAE / GAN epochs (default: UPDATES)"
    )
    p.add_argument("--anchors", action="store_true", help="add CTGAN, TVAE and sdmetrics")
    args = p.parse_args()
    print(
        f"logistic regression (scaled numbers, one-hot categories); seeds {args.seeds}; k={args.k}"
    )
    for table in args.tables:
        run(table, args.seeds, args.k, args.epochs, args.anchors)


if __name__ == "__main__":
    main()
