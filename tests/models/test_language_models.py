"""GPT, BERT and the text classifier on tiny sizes: causality, cache, masked loss, focal loss and
class weights against numpy, and training that reduces the loss; on jax, tensorflow and torch."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.models.bert import (
    BertPretrainer,
    TokenTagger,
    gather_masked,
    mask_tokens,
    masked_token_loss,
)
from keraslab.models.gpt import GPT
from keraslab.models.text_classifier import FocalLoss, TextClassifier, class_weights, focal_loss

pytestmark = pytest.mark.backend

SMALL = dict(embedding_dim=16, num_heads=2, intermediate_dim=32)


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def gpt():
    keras.utils.set_random_seed(0)
    model = GPT(30, sequence_length=24, num_layers=2, dropout=0.0, **SMALL)
    model.compile(optimizers={"gpt": keras.optimizers.Adam(3e-3)})
    return model


def test_gpt_changing_future_tokens_leaves_earlier_logits_unchanged(gpt):
    x = np.random.default_rng(0).integers(0, 30, (3, 24)).astype("int32")
    y = x.copy()
    y[:, 10:] = (y[:, 10:] + 1) % 30
    a, b = _np(gpt(x)), _np(gpt(y))
    np.testing.assert_allclose(a[:, :10], b[:, :10], atol=1e-5)
    assert np.abs(a[:, 10:] - b[:, 10:]).max() > 1e-3  # the test can fail: later ones change


def test_gpt_training_reduces_loss_and_cache_equals_full_window(gpt):
    # A cyclic language: after token t comes t+1 (mod 12).
    start = np.random.default_rng(1).integers(0, 12, 256)
    seq = (start[:, None] + np.arange(25)) % 12
    x, y = seq[:, :-1].astype("int32"), seq[:, 1:].astype("int32")
    first = gpt.evaluate_loss(x, y)
    gpt.fit(x, y, batch_size=32, epochs=12, verbose=0)
    last = gpt.evaluate_loss(x, y)
    assert last[0] / last[1] < 0.5 * first[0] / first[1]
    prompt = np.array([[3, 4, 5], [7, 8, 9]], "int32")
    greedy = gpt.generate(prompt, 8, temperature=0)
    assert greedy[0][:4] == [6, 7, 8, 9]  # it learnt the language
    kw = dict(temperature=1.0, top_k=4, top_p=0.95, seed=3)
    cached = gpt.generate(prompt, 12, use_cache=True, **kw)
    full = gpt.generate(prompt, 12, use_cache=False, **kw)
    assert cached == full


def test_gpt_top_k_tokens_are_among_the_model_top_k(gpt):
    prompt = np.array([[1, 2]], "int32")
    new = gpt.generate(prompt, 10, temperature=2.0, top_k=2, seed=5)[0]
    seq = np.array([[1, 2, *new]], "int32")
    logits = _np(gpt(seq))[0]
    for t, token in enumerate(new):
        top2 = np.argsort(-logits[t + 1])[:2]
        assert token in top2


def test_mlm_loss_counts_masked_positions_only():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 9)).astype("float32")
    labels = rng.integers(0, 9, (2, 5)).astype("int32")
    weights = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0]], "float32")
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    loss, _ = masked_token_loss(labels, logits, weights)
    np.testing.assert_allclose(float(_np(loss)), nll[weights > 0].mean(), rtol=1e-5)
    # Changing labels and logits where weights are 0 changes nothing.
    labels2, logits2 = labels.copy(), logits.copy()
    labels2[weights == 0] = 0
    logits2[weights == 0] += 5 * rng.normal(size=(7, 9)).astype("float32")
    loss2, _ = masked_token_loss(labels2, logits2, weights)
    np.testing.assert_allclose(float(_np(loss2)), float(_np(loss)), rtol=1e-6)


def test_bert_pretraining_reduces_masked_lm_loss_and_feeds_the_classifier():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Sentences of a copy language: the second half repeats the first; MLM can learn it.
    half = rng.integers(7, 40, (256, 6))
    ids = np.concatenate([np.full((256, 1), 4), half, half], axis=1).astype("int32")
    model = BertPretrainer(
        next_sentence=True, vocabulary_size=40, sequence_length=13, num_layers=1, **SMALL
    )
    model.compile(optimizers={"mlm": keras.optimizers.Adam(3e-3)})
    x, y, w = mask_tokens(ids, rng, 6, 40, special_ids=(0, 1, 2, 3, 4, 5))
    seg = np.zeros_like(x)
    is_next = rng.integers(0, 2, 256).astype("int32")
    before = model.evaluate_loss(x, seg, y, w)[0]
    model.fit((x, seg), (y, w, is_next), batch_size=32, epochs=20, verbose=0)
    after = model.evaluate_loss(x, seg, y, w)[0]
    assert after < 0.8 * before
    # The head on gathered positions gives the same logits as on every token.
    x2, pos, lab, wt = gather_masked(x[:8], y[:8], w[:8], 4)
    full = _np(model((x2, seg[:8]), training=False)[0])
    picked = _np(model((x2, seg[:8], pos), training=False)[0])
    np.testing.assert_allclose(picked, np.take_along_axis(full, pos[..., None], 1), atol=1e-4)
    for r in range(8):
        kept = pos[r][wt[r] > 0]
        np.testing.assert_array_equal(lab[r][wt[r] > 0], y[r, kept])
        dropped = np.setdiff1d(np.flatnonzero(w[r]), kept)  # beyond 4: original token restored
        np.testing.assert_array_equal(x2[r, dropped], y[r, dropped])
    clf = TextClassifier(2, vocabulary_size=40, sequence_length=13, num_layers=1, **SMALL)
    clf.load_backbone(model.backbone)
    for a, b in zip(clf.backbone.weights, model.backbone.weights):
        np.testing.assert_array_equal(_np(a), _np(b))
    tagger = TokenTagger(3, vocabulary_size=40, sequence_length=13, num_layers=1, **SMALL)
    assert _np(tagger(ids[:2])).shape == (2, 13, 3)


def test_focal_loss_equals_its_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)).astype("float32")
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = np.array([0, 1, 2, 2, 1, 0])
    alpha = [0.25, 0.5, 1.0]
    pt = p[np.arange(6), y]
    want = -np.asarray(alpha)[y] * (1 - pt) ** 2 * np.log(pt)
    np.testing.assert_allclose(_np(focal_loss(y, p, 2.0, alpha)), want, rtol=1e-5)
    np.testing.assert_allclose(
        _np(focal_loss(y, logits, 2.0, alpha, from_logits=True)), want, rtol=1e-5
    )
    # The Loss subclass reduces by the mean; gamma=0 is Keras's own cross-entropy.
    np.testing.assert_allclose(float(_np(FocalLoss(2.0, alpha)(y, p))), want.mean(), rtol=1e-5)
    ce = keras.losses.SparseCategoricalCrossentropy()(y, p)
    np.testing.assert_allclose(float(_np(FocalLoss(0.0)(y, p))), float(_np(ce)), rtol=1e-5)


def test_class_weights_scale_each_example_gradient():
    """One SGD step with class_weight equals the weighted mean of per-example steps."""
    keras.utils.set_random_seed(0)
    model = TextClassifier(
        2,
        vocabulary_size=20,
        sequence_length=6,
        num_layers=1,
        dropout=0.0,
        head_dropout=0.0,
        **SMALL,
    )
    model.compile(optimizers={"classifier": keras.optimizers.SGD(0.1)})
    x = np.random.default_rng(0).integers(1, 20, (4, 6)).astype("int32")
    y = np.array([0, 0, 0, 1], "int32")  # class 1 is the minority
    cw = class_weights(y, 2)
    assert cw[1] > cw[0]  # a minority-class example weighs more: 2.0 vs 0.67
    w0 = [_np(v) for v in model.trainable_variables]

    def step(xs, ys, **kw):
        for v, a in zip(model.trainable_variables, w0):
            v.assign(a)
        model.fit(xs, ys, batch_size=len(xs), epochs=1, shuffle=False, verbose=0, **kw)
        return [_np(v) - a for v, a in zip(model.trainable_variables, w0)]

    weighted = step(x, y, class_weight=cw)
    singles = [step(x[i : i + 1], y[i : i + 1]) for i in range(4)]
    w = np.array([cw[int(c)] for c in y])
    for k, delta in enumerate(weighted):
        want = sum(w[i] * singles[i][k] for i in range(4)) / w.sum()
        np.testing.assert_allclose(delta, want, atol=2e-6, rtol=1e-3)
    plain = step(x, y)  # without weights the minority example counts 1/4, not 1/2
    head = len(weighted) - 2  # the head's kernel
    assert not np.allclose(plain[head], weighted[head], atol=1e-6)
