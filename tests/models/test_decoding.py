"""Greedy and beam search (numpy bookkeeping) against exhaustive search over a known model."""

from __future__ import annotations

import itertools

import numpy as np

from keraslab.models.decoding import beam_search, greedy_search, length_penalty

START, END, PAD = 2, 3, 0
V = 6  # tokens 0..5; 4 and 5 are "words"


def _table_model(seed, max_length):
    """A fixed random next-token distribution per (sentence, prefix); [START]/[PAD] impossible."""
    rng = np.random.default_rng(seed)
    cache = {}

    def log_probs(sentence, prefix):
        key = (sentence, tuple(prefix))
        if key not in cache:
            logits = rng.normal(scale=2.0, size=V)
            logits[[PAD, START, 1]] = -np.inf
            if len(prefix) == max_length - 1:  # must end at the last step
                logits[4:] = -np.inf
            cache[key] = logits - np.logaddexp.reduce(logits[np.isfinite(logits)])
        return cache[key]

    return log_probs


def _stepper(log_probs, beams):
    def step(tokens, state):
        rows = [log_probs(i // beams, list(t[1:])) for i, t in enumerate(tokens)]
        return np.stack(rows), state

    return step


def _exhaustive(log_probs, sentence, max_length, alpha):
    """Best complete output by enumerating every sequence (ending in [END]) up to max_length."""
    best, best_score = None, -np.inf
    for n in range(max_length):
        for words in itertools.product([4, 5], repeat=n):
            seq = [*words, END]
            lp = sum(log_probs(sentence, seq[:i])[seq[i]] for i in range(len(seq)))
            score = lp / length_penalty(len(seq), alpha)
            if score > best_score:
                best, best_score = seq, score
    return best


def test_wide_beam_finds_the_exhaustive_optimum():
    max_length, n = 5, 4
    for alpha in (0.0, 0.6, 1.0):
        model = _table_model(1, max_length)
        width = 2**max_length  # wide enough to keep every live prefix
        out = beam_search(
            _stepper(model, width), None, lambda s, r: s, n, START, END, max_length, width, alpha
        )
        for b in range(n):
            got = [int(t) for t in out[b] if t != PAD]
            assert got == _exhaustive(model, b, max_length, alpha), (alpha, b)


def test_width_one_equals_greedy_and_beam_can_beat_greedy():
    max_length, n = 6, 20
    model = _table_model(3, max_length)
    greedy = greedy_search(_stepper(model, 1), None, n, START, END, max_length)
    beam1 = beam_search(_stepper(model, 1), None, lambda s, r: s, n, START, END, max_length, 1)
    np.testing.assert_array_equal(greedy, beam1)

    def score(b, seq):
        seq = [int(t) for t in seq if t != PAD]
        return sum(model(b, seq[:i])[seq[i]] for i in range(len(seq)))

    beam4 = beam_search(
        _stepper(model, 4), None, lambda s, r: s, n, START, END, max_length, 4, alpha=0.0
    )
    gains = [score(b, beam4[b]) - score(b, greedy[b]) for b in range(n)]
    assert min(gains) >= -1e-9  # never worse in log-probability
    assert max(gains) > 1e-3  # and better on some sentence


def test_greedy_pads_after_end():
    def step(tokens, state):
        lp = np.full((len(tokens), V), -np.inf)
        t = tokens.shape[1]
        for i in range(len(tokens)):
            lp[i, END if t > i + 1 else 4] = 0.0  # row i says i+1 words then [END]
        return lp, state

    out = greedy_search(step, None, 3, START, END, 10)
    assert out.tolist() == [[4, END, PAD, PAD], [4, 4, END, PAD], [4, 4, 4, END]]
