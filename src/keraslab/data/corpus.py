"""English prose for character-level language models: Jane Austen's novels, or a user's text file.

``austen_novels()`` reads the six novels of the R package janeaustenr, offline
(``sudo apt-get install -y r-cran-janeaustenr && pip install rdata``). R keeps them in a lazy-load
database (``data/Rdata.rdx`` + ``Rdata.rdb``): the ``.rdx`` index gives each object's offset and
length in the ``.rdb``, where it is a 4-byte length followed by a zlib-compressed R
serialization, read here with :mod:`rdata`. Each novel is a character vector of the Project
Gutenberg lines (hard-wrapped at ~70 columns; an empty line ends a paragraph); the lines are
joined with ``"\\n"``, so paragraphs are separated by ``"\\n\\n"`` (headings by a few more).
The six texts hold 4,025,022 characters (81 distinct), 3,951,606 without the line breaks. The
first call takes about two seconds; the texts are then cached in ``cache_dir`` (default
``$KERASLAB_CACHE``, else ``~/.cache/keraslab``) as ``austen-v<N>.json.gz`` (0.03 s to read).

``load_text_corpus()`` splits a text into train/val/test by position: the last
``val_fraction + test_fraction`` of each novel (or of the user's file) is held out, val first,
then test, cut at paragraph breaks, so the held-out text is unseen prose, not shuffled lines of
the training text.

``CharTokenizer`` maps characters to ids (0 = padding), and :func:`sample_windows` /
:func:`sequential_windows` cut id arrays into ``(x, y)`` next-character training pairs. Nothing
here needs Keras.
"""

from __future__ import annotations

import gzip
import json
import os
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from keraslab.data.images import DataSourceMissing
from keraslab.errors import UserError
from keraslab.io import atomic_path

JANEAUSTENR_DIR = Path("/usr/lib/R/site-library/janeaustenr")
INSTALL = "sudo apt-get install -y r-cran-janeaustenr && pip install rdata"
CACHE_VERSION = 1
# R object name -> title (janeaustenr's own titles), in order of publication.
AUSTEN_TITLES = {
    "sensesensibility": "Sense & Sensibility",
    "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
MIN_TEXT_CHARS = 1000
# A held-out cut moves at most this far (and at most half a held-out part) to reach a paragraph
# break or, failing that, a line break.
MAX_CUT_SHIFT = 5000


def _default_cache_dir() -> Path:
    return Path(os.environ.get("KERASLAB_CACHE", "~/.cache/keraslab")).expanduser()


# --- Jane Austen ------------------------------------------------------------------------------


def _read_austen(package_dir: Path) -> dict[str, str]:
    """The novels from janeaustenr's lazy-load database (about a second)."""
    missing = f"Jane Austen's novels are not installed: run `{INSTALL}`"
    rdx_path, rdb_path = package_dir / "data" / "Rdata.rdx", package_dir / "data" / "Rdata.rdb"
    if not rdx_path.is_file() or not rdb_path.is_file():
        raise DataSourceMissing(f"{missing} (no {rdx_path})")
    try:
        import rdata
    except ImportError:
        raise DataSourceMissing(f"{missing} (the Python package rdata is missing)") from None

    def parse(data: bytes):
        with warnings.catch_warnings():  # "Unknown file type: assumed RDS"
            warnings.simplefilter("ignore")
            return rdata.conversion.convert(rdata.parser.parse_data(data))

    try:
        index = parse(rdx_path.read_bytes())  # gzip-compressed serialization of a list
        variables = {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}
        rdb = rdb_path.read_bytes()
        novels = {}
        for name, title in AUSTEN_TITLES.items():
            offset, length = variables[name]
            # Each object: 4 bytes (big-endian uncompressed length), then the zlib stream.
            lines = parse(zlib.decompress(rdb[offset + 4 : offset + length]))
            novels[title] = "\n".join(str(line) for line in lines).strip("\n")
    except (OSError, KeyError, ValueError, TypeError, IndexError, zlib.error) as e:
        raise DataSourceMissing(
            f"{missing} ({package_dir} is damaged or of another version: {type(e).__name__})"
        ) from None
    return novels


def austen_novels(
    cache_dir: str | os.PathLike | None = None, package_dir: str | os.PathLike = JANEAUSTENR_DIR
) -> dict[str, str]:
    """Title -> full text of Jane Austen's six novels, in order of publication.

    Titles: "Sense & Sensibility", "Pride & Prejudice", "Mansfield Park", "Emma",
    "Northanger Abbey", "Persuasion". The first call reads them from the R package janeaustenr
    in ``package_dir`` and caches them in ``cache_dir`` (default ``$KERASLAB_CACHE``, else
    ``~/.cache/keraslab``); later calls read the cache. Raises
    :class:`~keraslab.data.DataSourceMissing` when the package (or :mod:`rdata`) is missing.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    path = cache_dir / f"austen-v{CACHE_VERSION}.json.gz"
    if path.is_file():
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                cached = json.load(f)
            if cached["version"] == CACHE_VERSION and list(cached["novels"]) == list(
                AUSTEN_TITLES.values()
            ):
                return dict(cached["novels"])
        except (OSError, ValueError, KeyError, TypeError, EOFError):  # a damaged cache is rebuilt
            pass
    novels = _read_austen(Path(package_dir))
    with atomic_path(path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
            json.dump({"version": CACHE_VERSION, "novels": novels}, f, ensure_ascii=False)
    return novels


# --- train/val/test split -----------------------------------------------------------------------


class TextCorpus(NamedTuple):
    """A text split by position into train/val/test, with how the split was made."""

    train: str
    val: str
    test: str
    split: str  # in words


def _cut_near(text: str, position: int, shift: int) -> int:
    """The start of the paragraph (else line) nearest to ``position``, at most ``shift`` away."""
    if position <= 0 or position >= len(text):
        return max(0, min(position, len(text)))
    for separator in ("\n\n", "\n"):
        before = text.rfind(separator, max(0, position - shift), position)
        after = text.find(separator, position, position + shift)
        candidates = [i + len(separator) for i in (before, after) if i >= 0]
        if candidates:
            return min(candidates, key=lambda i: abs(i - position))
    return position


def _split_text(text: str, val_fraction: float, test_fraction: float) -> tuple[str, str, str]:
    """``text`` cut into train (the start), val, then test (the end), at paragraph breaks."""
    n = len(text)
    held = [f for f in (val_fraction, test_fraction) if f > 0]
    shift = min(MAX_CUT_SHIFT, int(n * min(held) / 2)) if held else 0
    val_start = _cut_near(text, round(n * (1 - val_fraction - test_fraction)), shift)
    test_start = _cut_near(text, round(n * (1 - test_fraction)), shift)
    test_start = max(test_start, val_start)
    train, val, test = text[:val_start], text[val_start:test_start], text[test_start:]
    return train.strip("\n"), val.strip("\n"), test.strip("\n")


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction}: each must be in "
            "[0, 1) and together below 1 (e.g. 0.05 and 0.05)"
        )


def _read_text_file(path: Path) -> str:
    """A user's UTF-8 text file; UserError (one line) when it is missing, not UTF-8 or too short."""
    if not path.is_file():
        raise UserError(f"{path}: no such file: give a UTF-8 text file or source='austen'")
    from keraslab.io import decode_utf8

    text = decode_utf8(path.read_bytes(), str(path))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UserError(f"{path}: the file is empty: give at least {MIN_TEXT_CHARS:,} characters")
    if len(text) < MIN_TEXT_CHARS:
        raise UserError(
            f"{path}: only {len(text):,} characters, too short to train on: give at least "
            f"{MIN_TEXT_CHARS:,} (ideally a million or more)"
        )
    return text


def load_text_corpus(
    source: str | os.PathLike = "austen",
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    cache_dir: str | os.PathLike | None = None,
) -> TextCorpus:
    """A text split into train/val/test by position (the end of the text is held out).

    ``source="austen"``: the six novels (see :func:`austen_novels`); of each novel the last
    ``val_fraction + test_fraction`` of its characters are held out, val first, then test,
    both cut at paragraph breaks; each part joins its pieces of the six novels with ``"\\n\\n"``.
    Otherwise ``source`` is the path of a UTF-8 text file (at least 1,000 characters), split
    the same way as one piece. Raises :class:`~keraslab.errors.UserError` for an unusable file
    or fractions.
    """
    _check_fractions(val_fraction, test_fraction)
    shares = (1 - val_fraction - test_fraction, val_fraction, test_fraction)
    percent = "/".join(f"{100 * share:g}" for share in shares)
    if str(source) == "austen":
        pieces = [
            _split_text(t, val_fraction, test_fraction) for t in austen_novels(cache_dir).values()
        ]
        train, val, test = ("\n\n".join(p[i] for p in pieces if p[i]) for i in range(3))
        where = f"of each of the {len(pieces)} Austen novels"
    else:
        path = Path(source).expanduser()
        train, val, test = _split_text(_read_text_file(path), val_fraction, test_fraction)
        where = f"of {path}"
    split = (
        f"by position {where}: train = the first part, val = the next, test = the end "
        f"({percent}%, cut at paragraph breaks): train {len(train):,}, val {len(val):,}, "
        f"test {len(test):,} characters"
    )
    return TextCorpus(train, val, test, split)


# --- characters -> ids --------------------------------------------------------------------------


class CharTokenizer:
    """Characters <-> ids: id 0 is padding, ids 1.. are the vocabulary's characters, sorted.

    Build it from all three parts of a corpus: a rare character may occur only in the held-out
    text (Austen's '£' does), and :meth:`encode` refuses characters it has never seen.

    Example:
        >>> tok = CharTokenizer.from_text([corpus.train, corpus.val, corpus.test])
        >>> ids = tok.encode("It is a truth")
        >>> tok.decode(ids)
        'It is a truth'
        >>> tok.save("tokenizer.json")
    """

    pad_id = 0

    def __init__(self, characters: Sequence[str]):
        characters = list(characters)
        if any(not isinstance(c, str) or len(c) != 1 for c in characters):
            raise ValueError("characters must be single-character strings.")
        if len(set(characters)) != len(characters):
            raise ValueError("characters must be unique.")
        self.characters = sorted(characters)
        self._ids = {c: i for i, c in enumerate(self.characters, start=1)}
        # For encode_array: code points sorted (the characters are sorted by code point).
        self._codes = np.array([ord(c) for c in self.characters], dtype=np.uint32)
        self._table = np.array(["", *self.characters], dtype=object)

    @classmethod
    def from_text(cls, text: str | Iterable[str]) -> CharTokenizer:
        """The tokenizer of every character that occurs in ``text`` (a string or strings)."""
        chars = set(text) if isinstance(text, str) else set().union(*map(set, text))
        if not chars:
            raise ValueError("cannot build a vocabulary from empty text.")
        return cls(chars)

    @property
    def vocabulary_size(self) -> int:
        """Number of ids, padding included (the size of the embedding and output layers)."""
        return len(self.characters) + 1

    def _unknown_error(self, text: str, what: str) -> UserError:
        unknown = sorted({c for c in text if c not in self._ids})
        shown = ", ".join(repr(c) for c in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        return UserError(
            f"the {what} has characters this model never saw: {shown}{more} (its vocabulary "
            f"has {len(self.characters)} characters): remove or replace them"
        )

    def encode(self, text: str, what: str = "text") -> list[int]:
        """Ids of ``text``'s characters; UserError naming the characters not in the vocabulary.

        ``what`` names the text in that message ("the prompt has characters ...").
        """
        try:
            return [self._ids[c] for c in text]
        except KeyError:
            raise self._unknown_error(text, what) from None

    def encode_array(self, text: str, what: str = "text") -> np.ndarray:
        """Like :meth:`encode`, as an int32 array, fast for long texts (~0.1 s per million)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        positions = np.searchsorted(self._codes, codes)
        positions = np.minimum(positions, len(self._codes) - 1)
        if codes.size and not np.array_equal(self._codes[positions], codes):
            raise self._unknown_error(text, what)
        return (positions + 1).astype(np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (padding, id 0, is skipped). ValueError for an id out of range."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocabulary_size):
            bad = ids[(ids < 0) | (ids >= self.vocabulary_size)][0]
            raise ValueError(f"id {bad} is not in this vocabulary (0..{self.vocabulary_size - 1}).")
        return "".join(self._table[ids[ids != self.pad_id]])

    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary as JSON, atomically. Returns the path."""
        path = Path(path)
        payload = {"type": "CharTokenizer", "version": 1, "characters": self.characters}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(payload, ensure_ascii=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        """Read a tokenizer written by :meth:`save`; UserError (one line) if it is not one."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("type") != "CharTokenizer":
                raise ValueError
            return cls(payload["characters"])
        except FileNotFoundError:
            raise UserError(f"{path}: no such file (a character tokenizer JSON)") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"{path}: not a character tokenizer file (JSON from save)") from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocabulary_size={self.vocabulary_size})"


# --- (x, y) windows -----------------------------------------------------------------------------


def _check_length(ids: np.ndarray, sequence_length: int) -> None:
    if sequence_length < 1:
        raise ValueError(f"sequence_length must be at least 1, got {sequence_length}.")
    if ids.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {ids.shape}.")
    if len(ids) < sequence_length + 1:
        raise UserError(
            f"the text has {len(ids):,} characters, too few for sequence_length="
            f"{sequence_length}: it needs at least {sequence_length + 1:,} (use a shorter "
            "sequence length or a longer text)"
        )


def sample_windows(
    ids: np.ndarray, sequence_length: int, count: int, rng: np.random.Generator | int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` windows at random offsets: int32 ``x`` and ``y`` of shape (count, length).

    ``y`` is ``x`` shifted by one character (``y[:, t]`` is the character after ``x[:, t]``),
    as nanoGPT samples its batches. ``rng`` is a ``np.random.Generator`` or a seed.
    """
    ids = np.asarray(ids)
    _check_length(ids, sequence_length)
    rng = np.random.default_rng(rng)
    starts = rng.integers(0, len(ids) - sequence_length, size=count)
    positions = starts[:, None] + np.arange(sequence_length)
    return ids[positions].astype(np.int32), ids[positions + 1].astype(np.int32)


def sequential_windows(
    ids: np.ndarray, sequence_length: int, stride: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Windows from the start of ``ids`` in order, ``stride`` apart (default: ``sequence_length``,
    so they do not overlap): int32 ``x`` and ``y`` (``x`` shifted by one), shape (n, length).

    The incomplete tail is dropped. For validation and test loss, the same every time.
    """
    ids = np.asarray(ids)
    _check_length(ids, sequence_length)
    stride = sequence_length if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}.")
    starts = np.arange(0, len(ids) - sequence_length, stride)
    positions = starts[:, None] + np.arange(sequence_length)
    return ids[positions].astype(np.int32), ids[positions + 1].astype(np.int32)
