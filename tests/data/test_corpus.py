"""Text corpora for character language models: Austen's novels, user text files, the character
tokenizer and the (x, y) windows.

The Austen tests read the real janeaustenr data (installed by `make install`): they fail, not
skip, when it is missing. They use the default cache (~/.cache/keraslab), so after the first
run they take milliseconds.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from keraslab.data import DataSourceMissing
from keraslab.data.corpus import (
    CACHE_VERSION,
    CharTokenizer,
    TextCorpus,
    austen_novels,
    load_text_corpus,
    sample_windows,
    sequential_windows,
)
from keraslab.errors import UserError

TITLES = [
    "Sense & Sensibility",
    "Pride & Prejudice",
    "Mansfield Park",
    "Emma",
    "Northanger Abbey",
    "Persuasion",
]


@pytest.fixture(scope="module")
def novels():
    return austen_novels()


def _paragraphs(n: int) -> str:
    """A text of ``n`` numbered paragraphs of two hard-wrapped lines each."""
    return "\n\n".join(
        f"Paragraph {i}: it is a truth universally\nacknowledged, number {i}." for i in range(n)
    )


# --- Jane Austen ---------------------------------------------------------------------------------


def test_austen_has_six_novels_of_about_four_million_characters(novels):
    assert list(novels) == TITLES
    total = sum(len(text) for text in novels.values())
    without_line_breaks = sum(len(text) - text.count("\n") for text in novels.values())
    assert 3_900_000 <= without_line_breaks <= 4_000_000  # DATA.md: 3.95M
    assert 4_000_000 <= total <= 4_050_000
    for title, text in novels.items():
        assert len(text) > 400_000, title
        assert "\r" not in text and text == text.strip("\n"), title


def test_austen_texts_keep_their_paragraphs(novels):
    pride = novels["Pride & Prejudice"]
    assert pride.startswith("PRIDE AND PREJUDICE")
    assert "It is a truth universally acknowledged, that a single man in possession\nof a good" in (
        pride
    )
    assert "\n\nIt is a truth universally acknowledged" in pride  # a paragraph starts there
    assert novels["Emma"].startswith("EMMA") and novels["Persuasion"].endswith("Finis")
    assert pride.count("\n\n") > 2000


def test_austen_cache_is_written_rebuilt_when_damaged_and_reused(novels, tmp_path):
    path = tmp_path / f"austen-v{CACHE_VERSION}.json.gz"
    path.write_bytes(b"not gzip")
    assert austen_novels(cache_dir=tmp_path) == novels  # rebuilt from the R package
    with gzip.open(path, "rt", encoding="utf-8") as f:
        assert json.load(f)["novels"] == novels
    assert not list(tmp_path.glob(".tmp-*"))
    # Now the cache alone is enough.
    assert austen_novels(cache_dir=tmp_path, package_dir=tmp_path / "nowhere") == novels


def test_missing_janeaustenr_names_the_install_command(tmp_path):
    with pytest.raises(DataSourceMissing, match="apt-get install -y r-cran-janeaustenr"):
        austen_novels(cache_dir=tmp_path, package_dir=tmp_path / "nowhere")


def test_austen_corpus_holds_out_the_end_of_each_novel(novels):
    corpus = load_text_corpus("austen")
    assert isinstance(corpus, TextCorpus)
    total = sum(len(text) for text in novels.values())
    assert abs(len(corpus.train) / total - 0.90) < 0.005
    assert abs(len(corpus.val) / total - 0.05) < 0.005
    assert abs(len(corpus.test) / total - 0.05) < 0.005
    assert "Austen" in corpus.split and "train 3," in corpus.split
    # Train starts with the first novel; test ends with the last one's end.
    assert corpus.train.startswith("SENSE AND SENSIBILITY")
    assert corpus.test.endswith(novels["Persuasion"][-500:])
    # The held-out parts of the first novel start paragraphs, val before test.
    first = novels["Sense & Sensibility"]
    val_at, test_at = first.find("\n\n" + corpus.val[:100]), first.find("\n\n" + corpus.test[:100])
    assert 0.88 < val_at / len(first) < 0.92 and 0.93 < test_at / len(first) < 0.97
    # Held-out prose is not in the training text.
    for part in (corpus.val, corpus.test):
        for i in range(0, len(part) - 200, len(part) // 7):
            assert part[i : i + 200] not in corpus.train


def test_austen_corpus_fractions(novels):
    corpus = load_text_corpus("austen", val_fraction=0.1, test_fraction=0.0)
    total = sum(len(text) for text in novels.values())
    assert corpus.test == ""
    assert abs(len(corpus.val) / total - 0.1) < 0.005
    with pytest.raises(UserError, match="together below 1"):
        load_text_corpus("austen", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(UserError, match="val_fraction=-0.1"):
        load_text_corpus("austen", val_fraction=-0.1)


# --- a user's text file ----------------------------------------------------------------------------


def test_user_file_is_split_at_paragraph_breaks(tmp_path):
    text = _paragraphs(200)
    path = tmp_path / "book.txt"
    path.write_text(text, encoding="utf-8")
    corpus = load_text_corpus(str(path))
    assert text.startswith(corpus.train) and text.endswith(corpus.test)
    assert text == f"{corpus.train}\n\n{corpus.val}\n\n{corpus.test}"
    for part in (corpus.val, corpus.test):
        assert part.startswith("Paragraph ")
    assert abs(len(corpus.val) / len(text) - 0.05) < 0.01
    assert abs(len(corpus.test) / len(text) - 0.05) < 0.01
    assert str(path) in corpus.split


def test_user_file_without_paragraphs_is_cut_at_lines_or_anywhere(tmp_path):
    lines = "\n".join(f"line {i:04d} of a poem without blank lines" for i in range(100))
    (tmp_path / "lines.txt").write_text(lines, encoding="utf-8")
    corpus = load_text_corpus(tmp_path / "lines.txt")
    assert lines == f"{corpus.train}\n{corpus.val}\n{corpus.test}"
    blob = "abcdefghij" * 300
    (tmp_path / "blob.txt").write_text(blob, encoding="utf-8")
    corpus = load_text_corpus(tmp_path / "blob.txt")
    assert corpus.train + corpus.val + corpus.test == blob
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (2700, 150, 150)


def test_user_file_line_endings_and_bom_are_normalised(tmp_path):
    text = _paragraphs(100)
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    corpus = load_text_corpus(path)
    assert f"{corpus.train}\n\n{corpus.val}\n\n{corpus.test}" == text


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"  \n\n ", "the file is empty"),
        (b"short text\n", "only 11 characters, too short to train on: give at least 1,000"),
        (b"abc\n" * 300 + b"caf\xe9 au lait", "not UTF-8 text .* at offset 1203"),
    ],
)
def test_user_file_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "text.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        load_text_corpus(str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


# --- the character tokenizer ---------------------------------------------------------------------


def test_tokenizer_ids_start_at_one_after_padding():
    tok = CharTokenizer.from_text("banana\n")
    assert tok.characters == ["\n", "a", "b", "n"]
    assert tok.vocabulary_size == 5 and tok.pad_id == 0
    assert tok.encode("ban\n") == [3, 2, 4, 1]
    assert tok.decode([0, 3, 2, 0, 4, 0]) == "ban"
    assert tok.decode(np.array([[3, 2], [4, 2]])) == "bana"
    assert tok.encode("") == [] and tok.decode([]) == ""
    assert CharTokenizer.from_text(["ab", "c"]).characters == ["a", "b", "c"]
    with pytest.raises(ValueError, match="not in this vocabulary"):
        tok.decode([5])


def test_tokenizer_round_trips_austen(novels):
    text = novels["Emma"]
    tok = CharTokenizer.from_text(novels.values())
    assert tok.vocabulary_size == 82  # 81 characters (with "\n") + padding
    sample = text[:20_000]
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample
    assert np.array_equal(tok.encode_array(sample), ids)
    assert tok.encode_array(sample).dtype == np.int32
    assert tok.decode(tok.encode_array(text)) == text


def test_unknown_characters_are_named_in_one_line():
    tok = CharTokenizer.from_text("abc ")
    with pytest.raises(UserError) as info:
        tok.encode("a €bü", what="prompt")
    message = str(info.value)
    assert message.startswith("the prompt has characters this model never saw: 'ü', '€'")
    assert "\n" not in message
    with pytest.raises(UserError, match="'ü', '€'"):
        tok.encode_array("a €bü")
    with pytest.raises(UserError, match=r"'\\n'"):
        tok.encode("a\nb")
    with pytest.raises(UserError, match="'0', '1', .*'9' and 3 more"):
        tok.encode("0123456789xyz")


def test_tokenizer_save_and_load(tmp_path):
    tok = CharTokenizer.from_text("It is a truth universally acknowledged.\n£")
    path = tok.save(tmp_path / "sub" / "tokenizer.json")
    loaded = CharTokenizer.load(path)
    assert loaded.characters == tok.characters
    assert loaded.encode("truth £") == tok.encode("truth £")
    assert not list(path.parent.glob(".tmp-*"))
    with pytest.raises(UserError, match="no such file"):
        CharTokenizer.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"model": "BPE"}')
    with pytest.raises(UserError, match="not a character tokenizer"):
        CharTokenizer.load(tmp_path / "other.json")


# --- (x, y) windows ------------------------------------------------------------------------------


def test_sample_windows_shift_by_one_and_are_reproducible():
    ids = np.arange(1000)
    x, y = sample_windows(ids, sequence_length=32, count=64, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (64, 32) and x.dtype == y.dtype == np.int32
    assert np.array_equal(y[:, :-1], x[:, 1:])
    assert np.array_equal(y[:, -1], x[:, -1] + 1)
    assert np.all(np.diff(x, axis=1) == 1)  # contiguous stretches of the text
    assert x.min() >= 0 and y.max() <= 999
    x2, _ = sample_windows(ids, 32, 64, rng=0)
    assert np.array_equal(x, x2)
    assert len(np.unique(x[:, 0])) > 50  # random offsets


def test_sample_windows_reach_the_last_character():
    ids = np.arange(11)
    x, y = sample_windows(ids, 10, count=200, rng=1)
    assert set(x[:, 0]) == {0} and y[0, -1] == 10


def test_sequential_windows_cover_the_text_in_order():
    ids = np.arange(105)
    x, y = sequential_windows(ids, 10)
    assert x.shape == (10, 10) and x.dtype == np.int32
    assert np.array_equal(x.reshape(-1), ids[:100])
    assert np.array_equal(y.reshape(-1), ids[1:101])
    assert sequential_windows(np.arange(100), 10)[0].shape == (9, 10)  # 100 needs 101
    x, y = sequential_windows(ids, 10, stride=5)
    assert x.shape == (19, 10) and x[1, 0] == 5
    assert np.array_equal(y[:, :-1], x[:, 1:])


def test_windows_need_one_more_character_than_the_sequence():
    with pytest.raises(UserError, match="10 characters, too few for sequence_length=10"):
        sequential_windows(np.arange(10), 10)
    with pytest.raises(UserError, match="at least 11"):
        sample_windows(np.arange(10), 10, count=1, rng=0)
    assert sequential_windows(np.arange(11), 10)[0].shape == (1, 10)
