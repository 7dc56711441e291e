"""EDA text augmentation: rates 0 are the identity, deletion never empties a sentence, each
operation does what it says (checked against WordNet itself), seeded."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from keraslab.augment.specs import EDARates
from keraslab.augment.text import STOP_WORDS, augment_texts, eda, wordnet_synonyms

NONE = dict(synonyms=0, insert=0, swap=0, delete=0)
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "I really loved this movie!",
             "Terrible service and cold food", "ok"]  # fmt: skip
WORDS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC.,!?'", min_size=1, max_size=8),
    min_size=1,
    max_size=12,
)
FAKE = {"quick": ("fast",), "dog": ("hound", "domestic dog"), "movie": ("film",)}


def fake_synonyms(word):
    return FAKE.get(word.lower(), ())


@settings(max_examples=120, deadline=None)
@given(words=WORDS, n=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_all_rates_zero_is_the_identity(words, n, seed):
    sentence = " ".join(words)
    (copies,) = augment_texts([sentence], n, EDARates(**NONE), seed, fake_synonyms)
    assert copies == [sentence] * n


@settings(max_examples=120, deadline=None)
@given(words=WORDS, p=st.floats(0.01, 1.0), seed=st.integers(0, 2**32 - 1))
def test_deletion_never_returns_an_empty_sentence_and_only_deletes(words, p, seed):
    sentence = " ".join(words)
    (copies,) = augment_texts([sentence], 3, EDARates(**{**NONE, "delete": p}), seed)
    for copy in copies:
        kept = copy.split()
        assert kept, sentence
        it = iter(words)  # the kept words are a subsequence of the original
        assert all(any(w == k for w in it) for k in kept)
    if p == 1.0:  # everything deleted but one word
        assert all(len(c.split()) == 1 for c in copies)


@settings(max_examples=120, deadline=None)
@given(words=WORDS, seed=st.integers(0, 2**32 - 1))
def test_swap_permutes_the_words(words, seed):
    sentence = " ".join(words)
    (copies,) = augment_texts([sentence], 2, EDARates(**{**NONE, "swap": 0.3}), seed)
    for copy in copies:
        assert sorted(copy.split()) == sorted(words)


def test_synonym_replacement_and_insertion_use_synonyms_and_skip_stop_words():
    rng = np.random.default_rng(0)
    sentence = "The quick dog saw the movie."
    (replaced,) = eda(sentence, 1, EDARates(**{**NONE, "synonyms": 1.0}), rng, fake_synonyms)
    assert replaced.split()[0] == "The" and "saw" in replaced  # stop word / no synonyms kept
    assert "quick" not in replaced and "fast" in replaced
    assert "film." in replaced  # punctuation stays with its word
    (inserted,) = eda(sentence, 1, EDARates(**{**NONE, "insert": 0.2}), rng, fake_synonyms)
    added = inserted.split()
    for word in sentence.split():
        added.remove(word)
    allowed = {w for synonyms in FAKE.values() for s in synonyms for w in s.split()}
    assert added and set(added) <= allowed


def test_the_same_seed_gives_the_same_copies_per_sentence():
    a = augment_texts(SENTENCES, 4, EDARates(), 3, fake_synonyms)
    assert a == augment_texts(SENTENCES, 4, EDARates(), 3, fake_synonyms)
    assert a != augment_texts(SENTENCES, 4, EDARates(), 4, fake_synonyms)
    # sentence i depends on (seed, i) only: the same copies inside a longer list
    assert augment_texts(SENTENCES[:2], 4, EDARates(), 3, fake_synonyms) == a[:2]


def test_wordnet_synonyms_are_wordnet_lemmas():
    from keraslab.data.wordnet import wordnet

    wn = wordnet()
    got = wordnet_synonyms("car")
    assert {"auto", "automobile", "motorcar"} <= set(got) and "car" not in got
    lemmas = {
        lemma.name().replace("_", " ").lower() for s in wn.synsets("car") for lemma in s.lemmas()
    }
    assert set(got) <= lemmas
    assert wordnet_synonyms("zzxqj") == ()
    assert len(list(wn.all_synsets())) == 117659  # WordNet 3.0 (DATA.md)


def test_eda_with_wordnet_changes_content_words_only():
    copies = augment_texts(["The movie was wonderful and the actors were brilliant."], 8)[0]
    assert len(set(copies)) > 4
    for copy in copies:
        assert copy.strip()
        for word in ("the", "was", "and"):  # stop words are never replaced by synonyms
            assert word in STOP_WORDS
