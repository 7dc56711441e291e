"""English→Spanish sentence pairs for translation models: Bible verses, or a user's TSV file.

``load_translation_pairs("bible")`` gives verse pairs of the World English Bible (``engWEB2015eb``)
and the Reina-Valera 1909 (``spaRV1909eb``), both public domain, read offline from the SWORD
modules in ``/usr/share/sword`` (``sudo apt-get install -y sword-text-web sword-text-sparv`` and
``pip install pysword``). The split is fixed by book, so scores stay comparable over time:
test = John + Acts (the books of the apertium baseline in ``benchmarks/apertium_baseline.py``),
val = Ruth + Philippians, train = the other 62 books.

Cleaning (the OSIS markup is read raw and stripped here; pysword's own ``clean=True`` deletes
footnotes without a space and glues words: "Godcreated", "bornSon"):

* footnotes and cross-references (``<note>``) become a space; Song of Solomon's speaker labels
  ("Beloved", "Friends") and the WEB glossary appended to Revelation 22:21 are dropped;
* psalm headings are kept on both sides: RV1909 prints them inside verse 1, the WEB as a
  ``<title>`` that this module keeps in verse 1 too, so the pair stays parallel;
* RV1909 tags words that the translators added (``<transChange>``) and often leaves no space
  around them ("para siempreessu misericordia"): a space is put back, except before a lone
  enclitic pronoun ("Júrame" + "lo" = "Júramelo");
* RV1909's drop capitals at chapter starts ("EN el principio", "Y ACONTECIÓ", "¡OH Jehová") are
  re-cased ("En el principio", "Y aconteció", "¡Oh Jehová"); words that the text only ever
  writes capitalised keep their capital ("Y JEHOVÁ" → "Y Jehová");
* RV1909's colophons after the last verse of the epistles ("Amén. Escrita de Roma ...") go;
* the 12 chapters in which RV1909 numbers verses differently (``MISNUMBERED_CHAPTERS``, e.g.
  Jonah 2, where its 2:1 is the WEB's 1:17) are left out, and so are verses empty on one side.
  A few single verses still hold a neighbour's text on one side (the WEB puts Romans 16:25-27
  after 14:23; RV1909 has I John 5:7's longer reading).

Extraction takes a few seconds to a minute; the cleaned pairs are cached in ``cache_dir``
(default ``$KERASLAB_CACHE``, else ``~/.cache/keraslab``) as ``bible-eng-spa-v<N>.json.gz``.

A TSV file holds one ``english<TAB>spanish`` pair per line (UTF-8; an ``english<TAB>spanish``
header line and blank lines are skipped). Its split is drawn from a stable hash of the English
sentence: about 90% train, 5% val, 5% test, the same on every run and machine.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
import os
import re
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from keraslab.data.images import DataSourceMissing
from keraslab.errors import UserError
from keraslab.io import atomic_path

SWORD_PATH = Path("/usr/share/sword")
ENGLISH_MODULE = "engWEB2015eb"
SPANISH_MODULE = "spaRV1909eb"
INSTALL = "`sudo apt-get install -y sword-text-web sword-text-sparv` and `pip install pysword`"
CACHE_VERSION = 1
TEST_BOOKS = ("John", "Acts")
VAL_BOOKS = ("Ruth", "Philippians")
# Chapters where RV1909 numbers the verses differently from the WEB (Hebrew numbering: Numbers
# 12:16 is its 13:1, Jonah 1:17 its 2:1, ...), so that verse n of one is not verse n of the
# other. Found by comparing verse lengths across each chapter (and read); they are left out.
MISNUMBERED_CHAPTERS = {
    ("Numbers", 13),
    ("Numbers", 30),
    ("Judges", 14),
    ("I Samuel", 24),
    ("I Kings", 22),
    ("I Chronicles", 21),
    ("II Chronicles", 33),
    ("Job", 39),
    ("Job", 40),
    ("Hosea", 12),
    ("Jonah", 2),
    ("II Corinthians", 13),
}
MIN_TSV_PAIRS = 20

Pair = tuple[str, str]


class TranslationData(NamedTuple):
    """English→Spanish pairs split into train/val/test, with where they came from."""

    train: list[Pair]
    val: list[Pair]
    test: list[Pair]
    source: str  # "bible" or the TSV path
    split: str  # how the split was made, in words


# --- cleaning ---------------------------------------------------------------------------------

_UPPER = "A-ZÁÉÍÓÚÑÜ"
_LOWER = "a-záéíóúñü"
# A drop capital: an all-caps run (with at least one word of 2+ letters) at the start of the text
# or of a sentence, followed by a word that is not all caps. "ESTE ES EL REY DE LOS JUDIOS." (an
# inscription) and "YO SOY me ha enviado" (after a colon) are left alone.
_DROP_CAP = re.compile(
    rf"(?:^|(?<=[.!?] ))([¡¿(«“]?)((?:[{_UPPER}]+ )*[{_UPPER}]{{2,}}(?: [{_UPPER}]+)*)"
    rf"(?=[,;:]? [¡¿]?[{_UPPER}]?[{_LOWER}])"
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_ODD_MARKERS = re.compile(r"[¶\u00ad\u200b-\u200f\ufeff]")
_CLOSING_QUOTE_GLUED = re.compile(r"”(?=\w)")  # "the Omega, ”says the Lord" (WEB Rev 1:8)


def _normalise(text: str) -> str:
    """Drop pilcrows and invisible marks, collapse whitespace, remove spaces before punctuation."""
    text = " ".join(_ODD_MARKERS.sub(" ", text).split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def clean_english(text: str) -> str:
    """Whitespace-normalised English: one space between words, none before punctuation."""
    return _CLOSING_QUOTE_GLUED.sub("” ", _normalise(text))


def clean_spanish(text: str, proper_nouns: Iterable[str] = ()) -> str:
    """Whitespace-normalised Spanish with drop capitals re-cased ("EN el principio" → "En el ...").

    The first word of an all-caps run at a sentence start is capitalised, the others lowercased
    unless listed in ``proper_nouns`` (capitalised forms, e.g. ``{"Jehová"}``). All-caps words
    inside a sentence (acronyms, inscriptions) are left alone.
    """
    names = set(proper_nouns)

    def recase(match: re.Match) -> str:
        first, *rest = match.group(2).split(" ")
        words = [first.capitalize()]
        words += [w.capitalize() if w.capitalize() in names else w.lower() for w in rest]
        return match.group(1) + " ".join(words)

    return _DROP_CAP.sub(recase, _normalise(text))


def _proper_nouns(texts: Iterable[str]) -> set[str]:
    """Capitalised words that ``texts`` never write in lowercase (names: "Jehová", "David")."""
    capitalised, lower = set(), set()
    for text in texts:
        for word in re.findall(rf"[{_UPPER}{_LOWER}]+", text):
            if word.islower():
                lower.add(word)
            elif word[1:].islower():
                capitalised.add(word)
    return {w for w in capitalised if w.lower() not in lower}


# RV1909 ends most epistles with a colophon in the last verse: "... Amén. Escrita de Roma ...".
_COLOPHON = re.compile(r"(?<=Amén\.) [^.]*\b(?:escrita|enviada)\b.*$", re.I)
_GLOSSARY = re.compile(r'<div[^>]*type="glossary".*', re.S)  # appended to Revelation 22:21 (WEB)
_DROPPED = re.compile(r"<(note|speaker)\b[^>]*>.*?</\1>", re.S)
# Where an element was dropped: a space between words ("God" + "created"), none before
# punctuation or a closing quote ("gods." + "”").
_HOLE = "\x00"
_HOLE_SPACED = re.compile(rf"(?<=\S){_HOLE}+(?=[\w“‘(])")
_CLITICS = "lo|la|los|las|le|les|me|te|se|nos|os"
# Words before which a lone transChange pronoun is a separate word, not an enclitic (from RV1909).
_NOT_VERBS = set("no que como y de os cuánto ellos gentes dios jehová josué".split())
_ENCLITIC = re.compile(rf"(\w+)</w><transChange[^>]*>({_CLITICS})(?=</transChange>)")
_GLUED = re.compile(r"(</w>|</transChange>)(?=<(?:w|transChange)\b)")
_INLINE_TAGS = {"w", "q", "transChange", "seg", "name", "hi", "divineName", "foreign", "catchWord"}
_TAG = re.compile(r"</?([A-Za-z]+)[^>]*>")


def _osis_to_text(osis: str) -> str:
    """Plain text of one verse of OSIS markup (see the module docstring for what is dropped)."""
    osis = _DROPPED.sub(_HOLE, _GLOSSARY.sub("", osis))
    osis = _ENCLITIC.sub(
        lambda m: m.group(0) if m.group(1).lower() in _NOT_VERBS else m.group(1) + m.group(2), osis
    )
    osis = _GLUED.sub(r"\1 ", osis)
    # Inline tags vanish; line, paragraph, title and milestone tags separate words.
    text = _TAG.sub(lambda m: "" if m.group(1) in _INLINE_TAGS else " ", osis)
    text = _HOLE_SPACED.sub(" ", text).replace(_HOLE, "")
    return html.unescape(text)


# --- the Bible --------------------------------------------------------------------------------


def _default_cache_dir() -> Path:
    return Path(os.environ.get("KERASLAB_CACHE", "~/.cache/keraslab")).expanduser()


def _open_bibles(sword_path: Path):
    """The English and Spanish pysword Bibles, or DataSourceMissing naming the install commands."""
    missing = f"the English-Spanish Bible pairs are not installed: run {INSTALL}"
    try:
        from pysword.modules import SwordModules
    except ImportError:
        raise DataSourceMissing(missing) from None
    modules = SwordModules(str(sword_path))
    try:
        found = modules.parse_modules()
    except OSError:
        found = {}
    if ENGLISH_MODULE not in found or SPANISH_MODULE not in found:
        raise DataSourceMissing(f"{missing} (no {ENGLISH_MODULE}/{SPANISH_MODULE} in {sword_path})")
    bibles = []
    for name in (ENGLISH_MODULE, SPANISH_MODULE):
        try:
            bible = modules.get_bible_from_module(name)
        except (OSError, KeyError, ValueError):
            raise DataSourceMissing(f"{missing} ({name} in {sword_path} is damaged)") from None
        # pysword inflates a whole compressed block for every verse; remembering the last few
        # blocks makes extraction ~25x faster (3 s instead of ~77 s) and changes no output.
        if hasattr(bible, "_decompress"):
            bible._decompress = functools.lru_cache(maxsize=4)(bible._decompress)
        bibles.append(bible)
    return bibles


def _extract_bible_pairs(sword_path: Path) -> list[tuple[str, int, int, str, str]]:
    """Read and clean every verse pair of the KJV canon from the SWORD modules (~10 s)."""
    from pysword.canons import canons

    english, spanish = _open_bibles(sword_path)
    print(
        f"extracting English-Spanish verse pairs from {sword_path} (once; seconds to a minute) ...",
        file=sys.stderr,
        flush=True,
    )
    raw = []
    for books in canons["kjv"].values():
        for book, *_, verses_per_chapter in books:
            for chapter, n_verses in enumerate(verses_per_chapter, start=1):
                for verse in range(1, n_verses + 1):
                    ref = dict(books=[book], chapters=[chapter], verses=[verse], clean=False)
                    en = _osis_to_text(english.get(**ref))
                    es = _osis_to_text(spanish.get(**ref))
                    if chapter == len(verses_per_chapter) and verse == n_verses:
                        es = _COLOPHON.sub("", es.strip())
                    raw.append((book, chapter, verse, en, es))
    names = _proper_nouns(es for *_, es in raw)
    pairs = []
    for book, chapter, verse, en, es in raw:
        en, es = clean_english(en), clean_spanish(es, names)
        if en and es and (book, chapter) not in MISNUMBERED_CHAPTERS:
            pairs.append((book, chapter, verse, en, es))
    return pairs


def bible_pairs(
    cache_dir: str | os.PathLike | None = None, sword_path: str | os.PathLike = SWORD_PATH
) -> list[tuple[str, int, int, str, str]]:
    """All non-empty verse pairs as ``(book, chapter, verse, english, spanish)``, in canon order.

    Book names are the KJV canon's (``"John"``, ``"I Corinthians"``, ``"Revelation of John"``).
    The first call extracts them from the SWORD modules in ``sword_path`` and caches them in
    ``cache_dir`` (default ``$KERASLAB_CACHE``, else ``~/.cache/keraslab``); later calls read the
    cache. Raises :class:`~keraslab.data.DataSourceMissing` when the modules are not installed.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    path = cache_dir / f"bible-eng-spa-v{CACHE_VERSION}.json.gz"
    if path.is_file():
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return [tuple(row) for row in json.load(f)["pairs"]]
        except (OSError, ValueError, KeyError):  # a damaged cache is rebuilt
            pass
    pairs = _extract_bible_pairs(Path(sword_path))
    with atomic_path(path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "pairs": pairs}, f, ensure_ascii=False)
    return pairs


def _split_bible(pairs) -> TranslationData:
    parts = {"train": [], "val": [], "test": []}
    for book, _, _, en, es in pairs:
        part = "test" if book in TEST_BOOKS else "val" if book in VAL_BOOKS else "train"
        parts[part].append((en, es))
    n_train_books = len({p[0] for p in pairs} - set(TEST_BOOKS) - set(VAL_BOOKS))
    split = (
        f"test = {' + '.join(TEST_BOOKS)} ({len(parts['test']):,} pairs), "
        f"val = {' + '.join(VAL_BOOKS)} ({len(parts['val']):,} pairs), "
        f"train = the other {n_train_books} books ({len(parts['train']):,} pairs)"
    )
    return TranslationData(**parts, source="bible", split=split)


# --- TSV files --------------------------------------------------------------------------------


def _read_tsv(path: Path) -> list[Pair]:
    """Pairs of a user's ``english<TAB>spanish`` file; UserError (one line) when it is unusable."""
    fix = "write one pair per line as english<TAB>spanish"
    if not path.is_file():
        raise UserError(f"{path}: no such file: give a UTF-8 TSV file ({fix}) or source='bible'")
    from keraslab.io import decode_utf8

    text = decode_utf8(path.read_bytes(), str(path))
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise UserError(f"{path} line {number}: {len(fields) - 1} tabs, expected 1: {fix}")
        if not pairs and [f.strip().lower() for f in fields] == ["english", "spanish"]:
            continue  # header
        en, es = _normalise(fields[0]), _normalise(fields[1])
        if not en or not es:
            raise UserError(f"{path} line {number}: empty English or Spanish side: {fix}")
        pairs.append((en, es))
    if len(pairs) < MIN_TSV_PAIRS:
        raise UserError(
            f"{path}: {len(pairs)} pairs, need at least {MIN_TSV_PAIRS}: add more lines ({fix})"
        )
    return pairs


def _tsv_part(english: str) -> str:
    """'train', 'val' or 'test' from a stable hash of the sentence (about 90/5/5)."""
    bucket = zlib.crc32(english.encode("utf-8")) % 100
    return "train" if bucket < 90 else "val" if bucket < 95 else "test"


def write_pairs_tsv(pairs: Iterable[tuple], path: str | os.PathLike) -> Path:
    """Write pairs (each one's last two items: English, Spanish) as a TSV file, atomically.

    The file starts with an ``english<TAB>spanish`` header; whitespace inside a sentence (tabs,
    newlines) becomes one space. ``load_translation_pairs(path)`` reads it back.
    """
    path = Path(path)
    lines = ["english\tspanish"]
    for *_, en, es in pairs:
        lines.append(f"{' '.join(en.split())}\t{' '.join(es.split())}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- entry point ------------------------------------------------------------------------------


def load_translation_pairs(
    source: str | os.PathLike = "bible", cache_dir: str | os.PathLike | None = None
) -> TranslationData:
    """English→Spanish pairs split into train/val/test.

    ``source="bible"``: the Bible verse pairs (see :func:`bible_pairs`), split by book: test =
    John + Acts, val = Ruth + Philippians, train = every other book. Otherwise ``source`` is the
    path of a UTF-8 TSV file of ``english<TAB>spanish`` lines, split ~90/5/5 by a stable hash of
    the English sentence. Raises :class:`~keraslab.errors.UserError` for an unusable file.
    """
    if str(source) == "bible":
        return _split_bible(bible_pairs(cache_dir))
    path = Path(source).expanduser()
    parts = {"train": [], "val": [], "test": []}
    for en, es in _read_tsv(path):
        parts[_tsv_part(en)].append((en, es))
    split = (
        f"by a stable hash (crc32) of the English sentence: train {len(parts['train']):,}, "
        f"val {len(parts['val']):,}, test {len(parts['test']):,} pairs"
    )
    return TranslationData(**parts, source=str(path), split=split)
