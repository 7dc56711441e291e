"""Translator: masked loss vs numpy, training reduces loss on a toy language, and decoding
invariants (beam width 1 = greedy, cached = uncached) on the trained model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from helpers import make_pairs
from keraslab.data.batches import TranslationBatches
from keraslab.data.text import SubwordTokenizer, pad_batch
from keraslab.models.translator import Translator, WarmupInverseSqrt, masked_cross_entropy

pytestmark = pytest.mark.backend


def test_masked_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    labels = np.array([[5, 2, 0, 0], [1, 6, 3, 0]], "int32")
    eps = 0.1
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    mask = labels != 0
    nll = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    smooth = (1 - eps) * nll - eps * logp.mean(-1)
    acc = (logits.argmax(-1) == labels)[mask].mean()
    loss, got_acc = masked_cross_entropy(labels, logits, 0, eps)
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), smooth[mask].mean(), rtol=1e-5)
    np.testing.assert_allclose(float(ops.convert_to_numpy(got_acc)), acc, rtol=1e-6)
    plain, _ = masked_cross_entropy(labels, logits, 0)
    np.testing.assert_allclose(float(ops.convert_to_numpy(plain)), nll[mask].mean(), rtol=1e-5)


def test_loss_gradient_is_softmax_minus_smoothed_targets():
    from keraslab.engine import grad

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    labels = np.array([[5, 2, 0, 0], [1, 6, 3, 0]], "int32")
    got = grad(lambda z: masked_cross_entropy(labels, z, 0, 0.1)[0], ops.convert_to_tensor(logits))
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    mask = (labels != 0)[..., None]
    want = (p - (0.9 * np.eye(7)[labels] + 0.1 / 7)) * mask / mask.sum()
    np.testing.assert_allclose(ops.convert_to_numpy(got), want, atol=1e-6)


def test_schedule_warms_up_then_decays():
    s = WarmupInverseSqrt(1e-3, 100)
    lr = [float(ops.convert_to_numpy(s(step))) for step in (0, 49, 99, 399, 9999)]
    np.testing.assert_allclose(lr, [1e-5, 5e-4, 1e-3, 5e-4, 1e-4], rtol=1e-5)


@pytest.fixture(scope="module")
def trained():
    pairs = make_pairs(1000, seed=0)
    tok = SubwordTokenizer.train([s for p in pairs for s in p], vocabulary_size=200)
    src = tok.encode_batch([en for en, _ in pairs])
    tgt = tok.encode_batch([es for _, es in pairs])
    keras.utils.set_random_seed(0)
    model = Translator(
        tok.vocabulary_size,
        sequence_length=24,
        embedding_dim=32,
        num_heads=2,
        intermediate_dim=64,
        encoder_layers=1,
        decoder_layers=1,
        dropout=0.0,
        norm_first=True,
        label_smoothing=0.0,
    )
    model.compile(optimizers={"translator": keras.optimizers.Adam(WarmupInverseSqrt(5e-3, 40))})
    batches = TranslationBatches(src, tgt, 50, tok.start_id, tok.end_id, multiple=24)
    history = model.fit(batches, epochs=8, verbose=0).history
    test = make_pairs(40, seed=1)
    return model, tok, history, test


def test_training_reduces_loss_and_learns_the_toy_language(trained):
    model, tok, history, test = trained
    loss = history["translator_loss"]
    assert loss[-1] < 0.3 * loss[0], loss
    # held-out sentences of the toy language, teacher forcing: most next tokens right
    src = pad_batch(tok.encode_batch([en for en, _ in test]))
    tgt = [tok.encode(es) for _, es in test]
    t_in = pad_batch([[tok.start_id, *t] for t in tgt])
    t_out = pad_batch([[*t, tok.end_id] for t in tgt])
    _, accuracy = model.evaluate_loss(src, t_in, t_out)
    # (TensorFlow reaches ~0.77 here where JAX and PyTorch reach > 0.9 with the same recipe: a
    # slower-learning TF path that is not yet explained; see the issue-5 note.)
    assert accuracy > 0.7, accuracy
    out = [tok.decode(t) for t in model.translate_ids(src)]
    assert all(o.startswith("el ") and o.endswith(".") for o in out), out[:3]


def test_beam_width_one_is_greedy_and_cache_changes_nothing(trained):
    model, tok, _, test = trained
    ids = pad_batch(tok.encode_batch([en for en, _ in test]))
    greedy = model.translate_ids(ids)
    assert model.translate_ids(ids, method="beam", beam_width=1) == greedy
    assert model.translate_ids(ids, use_cache=False) == greedy
    beam = model.translate_ids(ids, method="beam", beam_width=3, length_penalty=0.6)
    assert model.translate_ids(ids, method="beam", beam_width=3, use_cache=False) == beam
    assert any(len(b) > 0 for b in beam)


def test_decoding_is_batch_independent(trained):
    model, tok, _, test = trained
    ids = pad_batch(tok.encode_batch([en for en, _ in test[:6]]))
    together = model.translate_ids(ids, method="beam", beam_width=2)
    alone = [model.translate_ids(ids[i : i + 1], method="beam", beam_width=2)[0] for i in (0, 5)]
    assert alone == [together[0], together[5]]
