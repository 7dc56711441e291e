"""Keras's evaluate() on every phased model, on tiny sizes and the current backend: the same
numbers as the models' own evaluate_loss loops (token-weighted, as the recipes compute them) or a
hand computation, in inference mode (no dropout, no label smoothing or label noise, no warm-up)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.models import DCGAN, VAE, WGANGP, build_critic, build_generator
from keraslab.models.bert import BertPretrainer, TokenTagger, mask_tokens
from keraslab.models.gpt import GPT
from keraslab.models.text_classifier import TextClassifier
from keraslab.models.translator import Translator

pytestmark = pytest.mark.backend

SMALL = dict(embedding_dim=16, num_heads=2, intermediate_dim=32)
RNG = np.random.default_rng(0)


def _np(x):
    return ops.convert_to_numpy(x)


def _nll_and_hits(logits, labels):
    shifted = np.asarray(logits, "float64") - np.max(logits, -1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    return nll, np.argmax(logits, -1) == labels


def _variables(model):
    return [_np(v).copy() for v in list(model.variables) + list(model.optimizer.variables)]


def _assert_unchanged(before, model):
    for a, b in zip(before, _variables(model)):
        np.testing.assert_array_equal(a, b)


def test_gpt_evaluate_is_the_token_mean_of_evaluate_loss():
    keras.utils.set_random_seed(0)
    model = GPT(30, sequence_length=12, num_layers=1, dropout=0.3, pad_id=0, **SMALL)
    model.compile(optimizers={"gpt": keras.optimizers.Adam(1e-3)})
    x = RNG.integers(1, 30, (10, 12)).astype("int32")
    y = RNG.integers(1, 30, (10, 12)).astype("int32")
    y[:, 9:] = 0  # padding labels count in neither
    before = _variables(model)
    logs = model.evaluate(x, y, batch_size=4, return_dict=True, verbose=0)
    _assert_unchanged(before, model)
    # recipes/gpt.py score_text: summed nll over token count, batch by batch.
    total = count = 0
    for i in range(0, len(x), 4):
        nll, n = model.evaluate_loss(x[i : i + 4], y[i : i + 4])
        total, count = total + nll, count + n
    assert count == int((y != 0).sum())
    np.testing.assert_allclose(logs["gpt_loss"], total / count, rtol=1e-5)
    nll, hits = _nll_and_hits(_np(model(x, training=False)), y)
    mask = y != 0
    np.testing.assert_allclose(logs["gpt_loss"], nll[mask].mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], hits[mask].mean(), rtol=1e-5)


def test_translator_evaluate_is_the_token_mean_without_label_smoothing():
    keras.utils.set_random_seed(0)
    model = Translator(
        40,
        sequence_length=8,
        encoder_layers=1,
        decoder_layers=1,
        dropout=0.3,
        label_smoothing=0.1,
        **SMALL,
    )
    model.compile(optimizers={"translator": keras.optimizers.Adam(1e-3)})
    source = RNG.integers(4, 40, (9, 8)).astype("int32")
    target_in = RNG.integers(4, 40, (9, 8)).astype("int32")
    target_out = RNG.integers(4, 40, (9, 8)).astype("int32")
    source[:, 6:], target_in[:, 5:], target_out[:, 5:] = 0, 0, 0
    target_out[::2, 3:] = 0  # uneven token counts per batch
    logs = model.evaluate(
        (source, target_in), target_out, batch_size=4, return_dict=True, verbose=0
    )
    # recipes/translator.py Validation: evaluate_loss weighted by each batch's token count.
    losses = accs = count = 0.0
    for i in range(0, len(source), 4):
        rows = slice(i, i + 4)
        loss, acc = model.evaluate_loss(source[rows], target_in[rows], target_out[rows])
        n = int((target_out[rows] != 0).sum())
        losses, accs, count = losses + loss * n, accs + acc * n, count + n
    np.testing.assert_allclose(logs["translator_loss"], losses / count, rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], accs / count, rtol=1e-5)
    nll, _ = _nll_and_hits(_np(model((source, target_in), training=False)), target_out)
    np.testing.assert_allclose(logs["translator_loss"], nll[target_out != 0].mean(), rtol=1e-5)


def test_bert_pretrainer_evaluate_is_the_masked_token_mean():
    keras.utils.set_random_seed(0)
    model = BertPretrainer(vocabulary_size=40, sequence_length=10, num_layers=1, **SMALL)
    model.compile(optimizers={"mlm": keras.optimizers.Adam(1e-3)})
    ids = RNG.integers(7, 40, (11, 10)).astype("int32")
    x, y, w = mask_tokens(ids, RNG, 6, 40, special_ids=(0, 1, 2, 3, 4, 5), rate=0.3)
    seg = np.zeros_like(x)
    logs = model.evaluate((x, seg), (y, w), batch_size=4, return_dict=True, verbose=0)
    # recipes/bert_mlm.py masked_lm_scores: evaluate_loss weighted by the masked-token count.
    total = hits = count = 0.0
    for i in range(0, len(x), 4):
        rows = slice(i, i + 4)
        loss, acc, n = model.evaluate_loss(x[rows], seg[rows], y[rows], w[rows])
        total, hits, count = total + loss * n, hits + acc * n, count + n
    np.testing.assert_allclose(logs["mlm_loss"], total / count, rtol=1e-5)
    np.testing.assert_allclose(logs["mlm_accuracy"], hits / count, rtol=1e-5)


def test_token_tagger_and_classifier_evaluate_equal_hand_computations():
    keras.utils.set_random_seed(0)
    ids = RNG.integers(4, 40, (7, 10)).astype("int32")
    ids[:, 7:] = 0
    tags = RNG.integers(0, 3, (7, 10)).astype("int32")
    tagger = TokenTagger(3, vocabulary_size=40, sequence_length=10, num_layers=1, **SMALL)
    tagger.compile(optimizers={"tagger": keras.optimizers.Adam(1e-3)})
    logs = tagger.evaluate(ids, tags, batch_size=3, return_dict=True, verbose=0)
    nll, hits = _nll_and_hits(_np(tagger(ids, training=False)), tags)
    np.testing.assert_allclose(logs["tagger_loss"], nll[ids != 0].mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], hits[ids != 0].mean(), rtol=1e-5)

    labels = RNG.integers(0, 3, (7,)).astype("int32")
    clf = TextClassifier(3, vocabulary_size=40, sequence_length=10, num_layers=1, **SMALL)
    clf.compile(optimizers={"classifier": keras.optimizers.Adam(1e-3)})
    logs = clf.evaluate(ids, labels, batch_size=3, return_dict=True, verbose=0)
    probs = clf.predict_proba(ids).astype("float64")
    ce = -np.log(np.clip(probs[np.arange(7), labels], 1e-7, 1.0))
    np.testing.assert_allclose(logs["classifier_loss"], ce.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], (probs.argmax(-1) == labels).mean(), rtol=1e-5)


SHAPE = (8, 8, 1)


def _bce(t, z):
    return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))


def test_dcgan_evaluate_uses_inference_networks_and_no_label_noise():
    gan = DCGAN(image_shape=SHAPE, latent_dim=4, seed=3, label_noise=0.3)
    gan.compile()
    x = RNG.random((6, *SHAPE)).astype("float32")
    gan.fit(x, batch_size=3, epochs=1, verbose=0)  # moving statistics away from 0 / 1
    before = _variables(gan)
    state = _np(gan.seed_generator.state).copy()
    logs = gan.evaluate(x, batch_size=6, return_dict=True, verbose=0)
    _assert_unchanged(before, gan)
    # Replay the draws: latents of the d phase, then latents of the g phase (no noise draw).
    gan.seed_generator.state.assign(state)
    d, g = gan.discriminator, gan.generator
    fake_d = g(gan._latents(6), training=False)
    fake_g = g(gan._latents(6), training=False)
    gan.seed_generator.state.assign(state)
    f_logit = _np(d(fake_d, training=False)).ravel()
    r_logit = _np(d(x, training=False)).ravel()
    g_logit = _np(d(fake_g, training=False)).ravel()
    assert logs["d_loss"] == pytest.approx(0.5 * (_bce(1.0, f_logit) + _bce(0.0, r_logit)), 1e-4)
    assert logs["g_loss"] == pytest.approx(_bce(0.0, g_logit), rel=1e-4)


def test_wgan_evaluate_logs_every_critic_term():
    generator = build_generator(4, SHAPE, base_channels=8, widths=(8, 8, 4))
    wgan = WGANGP(SHAPE, 4, generator=generator, critic=build_critic(SHAPE, widths=(8, 8)), seed=0)
    wgan.compile()
    x = RNG.random((5, *SHAPE)).astype("float32")
    before = _variables(wgan)
    logs = wgan.evaluate(x, batch_size=2, return_dict=True, verbose=0)
    _assert_unchanged(before, wgan)
    assert set(logs) == {"critic_loss", "gp", "w_distance", "g_loss"}
    assert all(np.isfinite(v) for v in logs.values())
    # Same batch weights for every term: the means keep loss = -W + gp_weight * gp.
    want = -logs["w_distance"] + wgan.gp_weight * logs["gp"]
    assert logs["critic_loss"] == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert wgan.evaluate(x, batch_size=2, return_dict=True, verbose=0) == logs


def test_vae_evaluate_scores_the_objective_without_kl_warmup():
    x_in = keras.Input(SHAPE)
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(x_in))
    encoder = keras.Model(x_in, [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
    decoder = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(int(np.prod(SHAPE))), keras.layers.Reshape(SHAPE)]
    )
    vae = VAE(SHAPE, 2, encoder=encoder, decoder=decoder, beta=2.0, kl_warmup_steps=1000, seed=1)
    vae.compile()
    x = RNG.random((6, *SHAPE)).astype("float32")
    logs = vae.evaluate(x, batch_size=4, return_dict=True, verbose=0)
    assert logs["vae_loss"] == pytest.approx(logs["reconstruction"] + 2.0 * logs["kl"], rel=1e-5)
    assert vae.evaluate(x, batch_size=4, return_dict=True, verbose=0) == logs
