"""Sampling filters (numpy, backend-free) and BERT's masking proportions, against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.models.bert import mask_tokens
from keraslab.models.token_sampling import filter_logits, sample_next


def test_top_k_never_emits_a_token_outside_the_top_k():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 50)) * 3
    top3 = np.argsort(-logits, axis=-1)[:, :3]
    for _ in range(200):
        ids = sample_next(logits, rng, temperature=1.5, top_k=3)
        assert all(i in row for i, row in zip(ids, top3))


def test_top_k_keeps_the_k_largest_and_renormalises():
    logits = np.log(np.array([[0.1, 0.4, 0.2, 0.3]]))
    p = np.exp(filter_logits(logits, top_k=2))
    np.testing.assert_allclose(p, [[0, 4 / 7, 0, 3 / 7]], atol=1e-12)


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    # 0.5 < 0.7, 0.5 + 0.3 >= 0.7: the first two tokens.
    np.testing.assert_allclose(np.exp(filter_logits(logits, top_p=0.7)), [[0.625, 0.375, 0, 0]])
    # The most likely token always stays, even when it alone exceeds p.
    np.testing.assert_allclose(np.exp(filter_logits(logits, top_p=0.1)), [[1, 0, 0, 0]])


def test_temperature_divides_logits_and_zero_is_greedy():
    logits = np.array([[1.0, 2.0, 0.5]])
    p = np.exp(filter_logits(logits, temperature=0.5))
    want = np.exp(logits / 0.5) / np.exp(logits / 0.5).sum()
    np.testing.assert_allclose(p, want)
    assert sample_next(logits, np.random.default_rng(0), temperature=0)[0] == 1


def test_sampling_frequencies_follow_the_filtered_distribution():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 20000))
    ids = sample_next(logits, np.random.default_rng(1), top_k=3)
    freq = np.bincount(ids, minlength=4) / len(ids)
    np.testing.assert_allclose(freq, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], atol=0.015)


def test_same_seed_same_draws():
    logits = np.random.default_rng(0).normal(size=(4, 30))
    a = sample_next(logits, np.random.default_rng(7), top_p=0.9)
    b = sample_next(logits, np.random.default_rng(7), top_p=0.9)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_k=0), dict(top_p=1.5)])
def test_bad_sampling_settings_raise(bad):
    with pytest.raises(ValueError):
        filter_logits(np.zeros((1, 3)), **bad)


def test_mlm_masking_proportions_on_10k_tokens():
    rng = np.random.default_rng(0)
    vocab, mask_id, special = 500, 6, (0, 1, 2, 3, 4, 5)
    ids = rng.integers(7, vocab, size=(100, 100)).astype("int32")
    ids[:, 0] = 4  # [CLS]
    ids[:, -5:] = 0  # padding
    inputs, labels, weights = mask_tokens(ids, rng, mask_id, vocab, special)
    ordinary = ~np.isin(ids, special)
    chosen = weights > 0
    n = ordinary.sum()  # 9,400 maskable tokens
    assert not chosen[~ordinary].any()  # specials and padding are never chosen
    assert abs(chosen.sum() / n - 0.15) < 0.012
    np.testing.assert_array_equal(labels, ids)
    masked = chosen & (inputs == mask_id)
    kept = chosen & (inputs == ids)
    randomised = chosen & ~masked & ~kept
    c = chosen.sum()
    assert abs(masked.sum() / c - 0.8) < 0.035
    assert abs(randomised.sum() / c - 0.1) < 0.03
    assert abs(kept.sum() / c - 0.1) < 0.03  # (a random draw equal to the original counts here)
    assert np.array_equal(inputs[~chosen], ids[~chosen])  # unchosen tokens untouched
    assert not np.isin(inputs[randomised], special + (mask_id,)).any()
