"""English→Spanish pairs: cleaning, the TSV format, the cache, and the real Bible pairs (slow).

The Bible tests extract the pairs once per module into a temporary cache (not ~/.cache) and check
them against facts read independently with pysword.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from pathlib import Path

import pytest

from keraslab.data import DataSourceMissing, translation
from keraslab.data.translation import (
    MISNUMBERED_CHAPTERS,
    SWORD_PATH,
    TEST_BOOKS,
    VAL_BOOKS,
    bible_pairs,
    clean_english,
    clean_spanish,
    load_translation_pairs,
    write_pairs_tsv,
)
from keraslab.errors import UserError

# --- cleaning -----------------------------------------------------------------------------------


def test_clean_spanish_recases_drop_capitals_only():
    assert clean_spanish("EN el principio crió Dios") == "En el principio crió Dios"
    assert clean_spanish("¡OH Jehová, cuánto!") == "¡Oh Jehová, cuánto!"
    assert clean_spanish("Y ACONTECIÓ después") == "Y aconteció después"
    assert clean_spanish("Y JEHOVÁ dijo", proper_nouns={"Jehová"}) == "Y Jehová dijo"
    assert clean_spanish("Salmo de David. EN ti he esperado") == "Salmo de David. En ti he esperado"
    # Inscriptions and acronyms inside a sentence keep their capitals.
    inscription = "Y pusieron su causa escrita: ESTE ES JESUS EL REY DE LOS JUDIOS."
    assert clean_spanish(inscription) == inscription
    assert clean_spanish("Dijo: YO SOY me ha enviado") == "Dijo: YO SOY me ha enviado"
    assert clean_spanish("La ONU dice que sí.") == "La ONU dice que sí."


def test_clean_normalises_whitespace_and_markers():
    assert (
        clean_english("  In the\n beginning ,\tGod ¶ created . ")
        == "In the beginning, God created."
    )
    assert clean_spanish(" y\u00a0la   tierra ; ") == "y la tierra;"
    assert clean_english("the Omega,”says the Lord") == "the Omega,” says the Lord"


def test_osis_footnotes_become_spaces_not_glue():
    # Genesis 1:1 and John 3:16 of engWEB2015eb as pysword returns them with clean=False.
    gen = (
        '<w lemma="strong:H0430">God</w><note placement="foot"><reference type="annotateRef">1:1 '
        "</reference>The Hebrew word rendered “God” is “אֱלֹהִ֑ים” (Elohim).</note>"
        '<w lemma="strong:H1254">created</w> <w lemma="strong:H0853">the</w> heavens. '
    )
    john = (
        '<q marker="" who="Jesus">his only born</q><note placement="foot">Or, only begotten'
        '</note><q marker="" who="Jesus"><w lemma="strong:G5207">Son</w>, that</q>'
    )
    end = 'of the gods</w>.<note placement="foot">Or, the Son of God.</note>” <div type="x-p"/>'
    osis_to_text = translation._osis_to_text
    assert clean_english(osis_to_text(gen)) == "God created the heavens."
    assert clean_english(osis_to_text(john)) == "his only born Son, that"
    assert clean_english(osis_to_text(end)) == "of the gods.”"


def test_osis_spanish_added_words_get_their_spaces():
    # Psalm 106:1 and Genesis 27:4 of spaRV1909eb: added words (transChange) without spaces.
    psalm = (
        '<w lemma="strong:H5769">para siempre</w><transChange type="added">es</transChange>'
        '<w lemma="strong:H2617">su misericordia</w>.'
    )
    enclitic = 'y <w lemma="strong:H0935">tráeme</w><transChange type="added">lo</transChange>, y'
    assert clean_spanish(translation._osis_to_text(psalm)) == "para siempre es su misericordia."
    assert clean_spanish(translation._osis_to_text(enclitic)) == "y tráemelo, y"


# --- TSV files ----------------------------------------------------------------------------------


def _pairs(n: int) -> list[tuple[str, str]]:
    return [
        (f"Sentence number {i} is here.", f"¿La oración número {i} está aquí?") for i in range(n)
    ]


def test_tsv_round_trip(tmp_path):
    pairs = _pairs(300) + [("Tab\tinside  and\nnewline.", "Señal ñ, ¿sí?")]
    path = write_pairs_tsv(pairs, tmp_path / "pairs.tsv")
    assert path.read_text(encoding="utf-8").startswith("english\tspanish\n")
    data = load_translation_pairs(path)
    expected = _pairs(300) + [("Tab inside and newline.", "Señal ñ, ¿sí?")]
    assert sorted(data.train + data.val + data.test) == sorted(expected)
    assert data.source == str(path)
    assert not list(tmp_path.glob(".tmp-*"))


def test_tsv_split_is_stable_and_about_90_5_5(tmp_path):
    path = write_pairs_tsv(_pairs(4000), tmp_path / "pairs.tsv")
    first, second = load_translation_pairs(path), load_translation_pairs(path)
    assert first == second
    n = 4000
    assert 0.87 < len(first.train) / n < 0.93
    assert 0.03 < len(first.val) / n < 0.07
    assert 0.03 < len(first.test) / n < 0.07
    # The split depends on the sentence only (crc32, not Python's per-process salted hash()).
    for part, bucket in ((first.train, range(90)), (first.val, range(90, 95))):
        assert all(zlib.crc32(en.encode()) % 100 in bucket for en, _ in part)
    # Adding lines does not move the others.
    bigger = load_translation_pairs(write_pairs_tsv(_pairs(5000), tmp_path / "more.tsv"))
    assert set(first.test) <= set(bigger.test)


def test_tsv_header_and_blank_lines_are_skipped(tmp_path):
    lines = ["english\tspanish", ""] + [f"{en}\t{es}" for en, es in _pairs(20)] + ["", "  "]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load_translation_pairs(path)
    assert len(data.train) + len(data.val) + len(data.test) == 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a\tb\nc\td\n\xe9t\xe9\tverano\n", "not UTF-8 text (line 3"),
        (b"a\tb\nc\td\ne\tf\ng\th\nno tab here\n", "line 5: 0 tabs, expected 1"),
        (b"a\tb\nc\td\te\n", "line 2: 2 tabs, expected 1"),
        (b"a\tb\n\tsolo\n", "line 2: empty English or Spanish side"),
        (b"a\tb\n" * 19, ": 19 pairs, need at least 20"),
    ],
)
def test_tsv_errors_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        load_translation_pairs(path)
    text = str(info.value)
    assert text.startswith(f"{path}")
    assert message in text
    assert "\n" not in text


def test_tsv_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_translation_pairs(tmp_path / "missing.tsv")


# --- the cache (fake extraction: fast) ----------------------------------------------------------

FAKE = [
    ("Genesis", 1, 1, "In the beginning.", "En el principio."),
    ("John", 1, 1, "Word.", "Verbo."),
]


def test_cache_is_written_once_and_reused(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        translation, "_extract_bible_pairs", lambda path: calls.append(path) or FAKE
    )
    assert bible_pairs(tmp_path) == FAKE
    assert bible_pairs(tmp_path) == FAKE
    assert len(calls) == 1
    (cache,) = tmp_path.iterdir()  # one file, no temporary left behind
    assert cache.name == f"bible-eng-spa-v{translation.CACHE_VERSION}.json.gz"
    with gzip.open(cache, "rt", encoding="utf-8") as f:
        assert json.load(f)["version"] == translation.CACHE_VERSION


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(translation, "_extract_bible_pairs", lambda path: FAKE)
    (tmp_path / f"bible-eng-spa-v{translation.CACHE_VERSION}.json.gz").write_bytes(b"garbage")
    assert bible_pairs(tmp_path) == FAKE
    assert bible_pairs(tmp_path) == FAKE


def test_cache_dir_defaults_to_keraslab_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(translation, "_extract_bible_pairs", lambda path: FAKE)
    monkeypatch.setenv("KERASLAB_CACHE", str(tmp_path))
    bible_pairs()
    assert [p.name for p in tmp_path.iterdir()] == ["bible-eng-spa-v1.json.gz"]


def test_missing_sword_modules_name_the_install_commands(tmp_path):
    with pytest.raises(DataSourceMissing) as info:
        bible_pairs(tmp_path / "cache", sword_path=tmp_path / "no-sword")
    text = str(info.value)
    assert "sudo apt-get install -y sword-text-web sword-text-sparv" in text
    assert "pip install pysword" in text
    assert "\n" not in text
    assert not (tmp_path / "cache").exists()


# --- the real Bible pairs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bible(tmp_path_factory) -> tuple[Path, list]:
    """(cache dir, pairs), extracted once for this module into a temporary cache."""
    cache = tmp_path_factory.mktemp("bible-cache")
    try:
        return cache, bible_pairs(cache)
    except DataSourceMissing as e:
        pytest.skip(str(e))


def _pysword_verses(books):
    """(book, chapter, verse, english, spanish) with pysword's own clean=True, read directly."""
    from pysword.canons import canons
    from pysword.modules import SwordModules

    modules = SwordModules(str(SWORD_PATH))
    modules.parse_modules()
    english = modules.get_bible_from_module("engWEB2015eb")
    spanish = modules.get_bible_from_module("spaRV1909eb")
    for book in (b for t in canons["kjv"].values() for b in t if b[0] in books):
        for chapter, n in enumerate(book[3], start=1):
            for verse in range(1, n + 1):
                ref = dict(books=[book[0]], chapters=[chapter], verses=[verse], clean=True)
                yield book[0], chapter, verse, english.get(**ref), spanish.get(**ref)


@pytest.mark.slow
def test_bible_counts_and_known_verses(bible):
    _, pairs = bible
    # 31,102 KJV verses, 25 empty on one side (31,077), minus the 12 misnumbered chapters.
    assert len(pairs) == 30_793
    assert len({p[0] for p in pairs}) == 66
    assert not {(b, c) for b, c, *_ in pairs} & MISNUMBERED_CHAPTERS
    verse = {(b, c, v): (en, es) for b, c, v, en, es in pairs}
    assert verse["John", 1, 1][0].startswith("In the beginning was the Word")
    assert verse["Genesis", 1, 1][1].startswith("En el principio crió Dios")
    assert verse["Genesis", 1, 1][0] == "In the beginning, God created the heavens and the earth."
    # Psalm headings on both sides of verse 1.
    assert verse["Psalms", 3, 1][0].startswith("A Psalm by David, when he fled from Absalom")
    assert verse["Psalms", 3, 1][1].startswith("Salmo de David, cuando huía de delante de Absalom")
    # No glossary after Revelation 22:21, no colophon after Philippians 4:23, no speaker labels.
    assert verse["Revelation of John", 22, 21][0].endswith("with all the saints. Amen.")
    assert verse["Philippians", 4, 23][1].endswith("sea con todos vosotros. Amén.")
    assert verse["Song of Solomon", 1, 2][0].startswith("Let him kiss me")
    for _, _, _, en, es in pairs:
        assert en and es and en == " ".join(en.split()) and es == " ".join(es.split())
        assert "<" not in en + es and "&" not in en + es
        assert not es.startswith(("EN ", "Y ACONTECIÓ", "¡OH "))


@pytest.mark.slow
def test_bible_footnotes_do_not_glue_words(bible):
    _, pairs = bible
    english = " ".join(en for *_, en, _ in pairs)
    for glued in ("Godcreated", "bornSon", "Beloved Let him"):
        assert glued not in english
    # John, against pysword's clean=True: the same letters, and every word that clean=True glued
    # at a footnote is two words here.
    ours = {(b, c, v): en for b, c, v, en, _ in pairs if b == "John"}
    glued = set()
    for b, c, v, their_en, _ in _pysword_verses({"John"}):
        if (b, c, v) not in ours:
            continue
        mine = ours[b, c, v]
        assert mine.replace(" ", "") == their_en.replace(" ", ""), (b, c, v)
        words = re.findall(r"\w+", mine)
        for word in set(re.findall(r"\w+", their_en)) - set(words):
            glued.add(word)
            assert any(x + y == word for x, y in zip(words, words[1:])), (b, c, v, word)
    assert "bornSon" in glued and len(glued) >= 5  # John 3:16 and a few more


@pytest.mark.slow
def test_bible_split_by_book(bible):
    cache, pairs = bible
    data = load_translation_pairs("bible", cache_dir=cache)
    assert data.test == [(en, es) for b, _, _, en, es in pairs if b in TEST_BOOKS]
    assert data.val == [(en, es) for b, _, _, en, es in pairs if b in VAL_BOOKS]
    held_out = set(TEST_BOOKS) | set(VAL_BOOKS)
    assert data.train == [(en, es) for b, _, _, en, es in pairs if b not in held_out]
    assert len(data.train) + len(data.val) + len(data.test) == len(pairs)
    # Independent count of John + Acts with pysword: verses non-empty on both sides.
    expected = sum(
        1 for *_, en, es in _pysword_verses(set(TEST_BOOKS)) if en.strip() and es.strip()
    )
    assert len(data.test) == expected == 1_882  # the apertium baseline's books in DATA.md
    assert "1,882" in data.split and data.source == "bible"


@pytest.mark.slow
def test_bible_cache_is_reused(bible, monkeypatch):
    cache, pairs = bible

    def no_extraction(path):
        raise AssertionError("extracted again instead of reading the cache")

    monkeypatch.setattr(translation, "_extract_bible_pairs", no_extraction)
    assert bible_pairs(cache) == pairs
