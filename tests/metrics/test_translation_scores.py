"""BLEU and chrF through sacrebleu, checked against a hand computation of BLEU."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from keraslab.metrics.text import translation_scores

REFS = [
    "el perro rojo come pan en la casa grande",
    "la mujer ve al hombre que canta en el jardin",
    "los ninos juegan con la pelota azul",
]
HYPS = [
    "el perro rojo come pan en la casa",  # one word short
    "la mujer ve al hombre que canta en el patio",  # one word wrong
    "los ninos juegan con la pelota azul",  # exact
]


def _bleu_by_hand(hyps, refs):
    """Papineni et al. 2002: clipped n-gram precisions, geometric mean, brevity penalty."""
    matches, totals = [0] * 4, [0] * 4
    for h, r in zip(hyps, refs):
        h, r = h.split(), r.split()
        for n in range(1, 5):
            hc = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    hyp_len = sum(len(h.split()) for h in hyps)
    ref_len = sum(len(r.split()) for r in refs)
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(sum(math.log(m / t) for m, t in zip(matches, totals)) / 4)


def test_bleu_matches_the_hand_computation():
    got = translation_scores(HYPS, REFS)
    assert got["bleu"] == pytest.approx(_bleu_by_hand(HYPS, REFS), abs=1e-6)
    assert got["sentences"] == 3 and "13a" in got["bleu_signature"]


def test_chrf_bounds_and_order():
    perfect = translation_scores(REFS, REFS)
    assert perfect["bleu"] == pytest.approx(100) and perfect["chrf"] == pytest.approx(100)
    partial = translation_scores(HYPS, REFS)["chrf"]
    worse = translation_scores(["xyz"] * 3, REFS)["chrf"]
    assert 0 <= worse < partial < 100


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 hypotheses but 3 references"):
        translation_scores(HYPS[:2], REFS)
