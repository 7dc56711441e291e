"""Subword tokenizer and teacher-forcing batches."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.data.batches import TranslationBatches
from keraslab.data.text import SubwordTokenizer, pad_batch

TEXTS = [
    "In the beginning was the Word, and the Word was with God.",
    "En el principio era el Verbo, y el Verbo era con Dios.",
    "¿Quién eres tú? Jesús respondió: «Yo soy».",
    "Niño, corazón, pequeñísimo — ACCENTS: é à ü ñ.",
] * 30


@pytest.fixture(scope="module")
def tok():
    return SubwordTokenizer.train(TEXTS, vocabulary_size=400)


def test_round_trip_restores_text_and_uses_subwords(tok):
    for text in set(TEXTS):
        ids = tok.encode(text)
        assert all(i > tok.end_id for i in ids)  # no special token inside a sentence
        assert tok.decode(ids) == text
    # an unseen word is split into known pieces, not mapped to [UNK]
    ids = tok.encode("Verbos pequeños")
    assert tok.unk_id not in ids and len(ids) > 2
    assert tok.decode(ids) == "Verbos pequeños"


def test_special_ids_and_decode_stops_at_end(tok):
    assert [tok.tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[START]", "[END]")] == [
        0,
        1,
        2,
        3,
    ]
    ids = tok.encode("el Verbo")
    assert tok.decode([tok.start_id, *ids, tok.end_id, *tok.encode("Dios"), 0, 0]) == "el Verbo"


def test_save_and_load_give_identical_ids(tok, tmp_path):
    path = tok.save(tmp_path / "tokenizer.json")
    again = SubwordTokenizer.load(path)
    assert again.encode_batch(TEXTS[:4]) == tok.encode_batch(TEXTS[:4])
    assert not list(tmp_path.glob(".tmp-*"))


def test_pad_batch():
    out = pad_batch([[5, 6, 7], [8]], pad_id=0)
    np.testing.assert_array_equal(out, [[5, 6, 7], [8, 0, 0]])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(pad_batch([[1, 2, 3]], length=2), [[1, 2]])


def test_batches_shift_targets_and_cover_every_pair_once():
    rng = np.random.default_rng(0)
    src = [list(rng.integers(4, 50, size=rng.integers(1, 40))) for _ in range(300)]
    tgt = [list(rng.integers(4, 50, size=rng.integers(1, 40))) for _ in range(300)]
    batches = TranslationBatches(src, tgt, 32, start_id=2, end_id=3, seed=1, multiple=16)
    seen = []
    for i in range(len(batches)):
        (s, ti), to = batches[i]
        assert s.shape == ti.shape == to.shape and s.shape[1] % 16 == 0
        for row in range(len(s)):
            target = [int(t) for t in to[row] if t]
            assert target[-1] == 3 and int(ti[row, 0]) == 2
            np.testing.assert_array_equal(ti[row, 1 : len(target)], target[:-1])  # shifted by one
            seen.append((tuple(int(t) for t in s[row] if t), tuple(target[:-1])))
    assert sorted(seen) == sorted((tuple(a), tuple(b)) for a, b in zip(src, tgt))
    # length bucketing: much less padding than batching in random order
    padded = sum(batches[i][0][0].size for i in range(len(batches)))
    batches.on_epoch_end()  # a new order next epoch
    assert [list(b) for b in batches.batches] != [list(b) for b in TranslationBatches(
        src, tgt, 32, seed=1).batches]  # fmt: skip
    plain = TranslationBatches(src, tgt, 32, shuffle=False, multiple=16)
    assert padded < 0.8 * sum(plain[i][0][0].size for i in range(len(plain)))


def test_bert_special_tokens_sequences_and_sentence_pairs():
    from keraslab.data.text import BERT_SPECIAL_TOKENS, bert_sequences, sentence_pairs

    texts = [f"the {w} sat on the mat near the {v} today" for w in "cat dog bird fox".split()
             for v in "tree door hill".split()]  # fmt: skip
    tok = SubwordTokenizer.train(texts, 120, 1, extra_special_tokens=BERT_SPECIAL_TOKENS)
    cls, sep, mask = (tok.token_id(t) for t in BERT_SPECIAL_TOKENS)
    assert (cls, sep, mask) == (4, 5, 6) and tok.special_ids == [0, 1, 2, 3, 4, 5, 6]
    seqs = bert_sequences(tok, texts[:3], 6)
    assert all(s[0] == cls and s[-1] == sep and len(s) <= 6 for s in seqs)
    assert tok.decode([cls, *tok.encode("the cat"), sep, mask]) == "the cat"
    ids, segments, is_next = sentence_pairs(tok, texts, 32, np.random.default_rng(0))
    assert 0 < is_next.mean() < 1
    for s, g, nxt, text in zip(ids, segments, is_next, texts):
        a_end = s.index(sep)
        assert s[0] == cls and s[-1] == sep and len(s) == len(g)
        assert g[: a_end + 1] == [0] * (a_end + 1) and set(g[a_end + 1 :]) == {1}
        whole = tok.encode(text)
        assert s[1:a_end] == whole[: len(whole) // 2]  # A: the first half
        if nxt:
            assert s[a_end + 1 : -1] == whole[len(whole) // 2 :]  # B really follows A


def test_stratified_subset_keeps_class_shares():
    from keraslab.recipes.text_classifier import stratified_subset

    labels = np.repeat([0, 1, 2], [420, 390, 190])
    keep = stratified_subset(labels, 100, seed=0)
    assert len(keep) == 100 == len(set(keep.tolist()))
    assert np.bincount(labels[keep]).tolist() == [42, 39, 19]
