"""The recognisability scores against an independent computation (scipy) on fixed probabilities."""

import numpy as np
import pytest
from scipy.special import rel_entr
from scipy.stats import entropy

from keraslab.metrics.quality import class_scores, format_quality, softmax


def test_score_equals_scipy_on_fixed_probabilities():
    p = np.random.default_rng(0).dirichlet(np.full(10, 0.3), size=500)
    marginal = p.mean(axis=0)
    expected = np.exp(np.mean([entropy(row, marginal) for row in p]))  # scipy's KL
    q = class_scores(p)
    assert q["score"] == pytest.approx(expected, rel=1e-10)
    assert q["score"] == pytest.approx(np.exp(rel_entr(p, marginal).sum(1).mean()), rel=1e-10)
    assert q["confident"] == pytest.approx(np.mean(p.max(1) > 0.9))
    counts = np.zeros(10, int)
    for row in p:
        counts[int(np.argmax(row))] += 1
    assert q["histogram"] == counts.tolist() and q["classes_present"] == (counts > 0).sum()


def test_hand_computed_cases():
    assert class_scores(np.eye(10))["score"] == pytest.approx(10.0)  # confident and balanced
    assert class_scores(np.full((7, 10), 0.1))["score"] == pytest.approx(1.0)  # no information
    collapsed = class_scores(np.tile(np.eye(10)[3], (50, 1)))  # confident, one class only
    assert collapsed["score"] == pytest.approx(1.0) and collapsed["classes_present"] == 1
    # two classes, each half of the samples, fully confident: exp(log 2) = 2
    two = np.array([[1.0, 0.0], [0.0, 1.0]] * 4)
    assert class_scores(two)["score"] == pytest.approx(2.0)
    assert class_scores(np.array([[0.95, 0.05], [0.6, 0.4]]))["confident"] == 0.5


def test_softmax_and_line():
    z = np.array([[0.0, np.log(3.0)]])
    assert softmax(z) == pytest.approx(np.array([[0.25, 0.75]]))
    real = class_scores(np.eye(10))
    line = format_quality(class_scores(np.eye(10)[:5]), real)
    assert "real 10.00" in line and "classes 5/10" in line


@pytest.mark.parametrize(
    "bad", [np.ones((3,)), np.ones((0, 10)), -np.eye(3), np.full((2, 2), np.nan)]
)
def test_bad_probabilities(bad):
    with pytest.raises(ValueError):
        class_scores(bad)
