"""Every public keraslab model (and model builder) through the shared harness (tests/harness.py):
eager call and shapes, get_config/from_config and serialization round trips, a .keras save/load
of the model itself, and one training step (train_on_batch; for a PhasedModel one step of every
phase) followed by a save/load of the trained, compiled model with its optimizer state; on jax,
tensorflow and torch, at tiny sizes.

A check an object cannot run would be listed in its case's ``skip`` with the reason, and
``test_skipped_checks_are_the_documented_ones`` pins that table (empty now). A known bug left
open has a strict ``xfail`` test, which starts passing (and so fails) once it is fixed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest

import keraslab.models
from harness import (
    LAYER_CHECKS,
    MODEL_CHECKS,
    PASSED,
    _kwargs,
    check_config_round_trip,
    check_model_saving,
    run_layer_test,
    run_model_test,
    to_tensors,
)
from keraslab.engine import PhasedModel
from keraslab.models import (
    DCGAN,
    VAE,
    WGANGP,
    Autoencoder,
    build_critic,
    build_discriminator,
    build_generator,
    build_vae_decoder,
    build_vae_encoder,
)
from keraslab.models.asset_pricing import ConditionalAutoencoder, beta_network, factor_network
from keraslab.models.autoencoder import (
    build_conv_decoder,
    build_conv_encoder,
    build_dense_decoder,
    build_dense_encoder,
)
from keraslab.models.bert import BertBackbone, BertPretrainer, TokenTagger
from keraslab.models.elmo import BiLM, ELMo, ELMoEncoder, ScalarMix
from keraslab.models.gan import build_bn_discriminator, build_bn_generator
from keraslab.models.gpt import GPT
from keraslab.models.losses import FocalLoss
from keraslab.models.text_classifier import TextClassifier
from keraslab.models.translator import Translator

pytestmark = pytest.mark.backend


_rng = np.random.default_rng(0)

IMAGE = (8, 8, 1)
LATENT = 4
VOCAB, LENGTH = 13, 6
TINY = dict(embedding_dim=8, num_heads=2, intermediate_dim=16)
ELMO_TINY = dict(vocabulary_size=VOCAB, sequence_length=LENGTH, embedding_dim=8, dropout=0.0)
# Softmax ignores a constant added to every attention score: key biases get no gradient.
KEY_BIAS = ("key/bias",)
# The Wasserstein critic loss mean(D(fake)) - mean(D(real)) (+ the penalty, on gradients) is
# unchanged by a constant added to every score, and the generator phase does not train the
# critic: the critic's output bias gets no gradient, ever (harmless, it is dead weight).
CRITIC_BIAS = ("score/bias",)


def images(n=4, shape=IMAGE):
    return _rng.uniform(0, 1, (n, *shape)).astype("float32")


def latents(n=2, dim=LATENT):
    return _rng.standard_normal((n, dim)).astype("float32")


def labels(n, classes=3):
    return (np.arange(n) % classes).astype("int32")


def ids(n=2, length=LENGTH, pad=True):
    x = _rng.integers(4, VOCAB, (n, length)).astype("int32")
    if pad:
        x[0, -2:] = 0  # row 0 padded
    return x


def case(id, cls, init_kwargs, input_data, expected_output_shape, **options):
    return pytest.param(
        dict(
            cls=cls,
            init_kwargs=init_kwargs,
            input_data=input_data,
            expected_output_shape=expected_output_shape,
            **options,
        ),
        id=id,
    )


_imgs = images()
_src, _tgt = ids(), ids()
_panel = (  # ConditionalAutoencoder: characteristics (T, N, P), portfolios (T, P), mask (T, N)
    _rng.standard_normal((3, 5, 4)).astype("float32"),
    _rng.standard_normal((3, 4)).astype("float32"),
    np.array([[1, 1, 1, 1, 0]] * 3, bool),
)

CASES = [
    # ---- autoencoders
    case(
        "Autoencoder-conv",
        Autoencoder,
        dict(image_shape=IMAGE, latent_dim=3, kind="conv"),
        _imgs,
        (4, *IMAGE),
        train_data=(_imgs, _imgs),
        loss="binary_crossentropy",
    ),
    # ---- VAE (call: reconstruction through a sampled code: the harness copies seed states)
    case(
        "VAE-gaussian-warmup-dynamic",
        VAE,
        dict(
            image_shape=IMAGE,
            latent_dim=2,
            likelihood="gaussian",
            sigma=0.5,
            beta=2.0,
            kl_warmup_steps=10,
            binarize="dynamic",
            seed=1,
        ),
        _imgs,
        (4, *IMAGE),
        phases=("vae",),
    ),
    # ---- GANs (call: latents -> images; training on real images)
    case(
        "DCGAN-dcgan",
        DCGAN,
        dict(image_shape=IMAGE, latent_dim=LATENT, seed=0),
        latents(),
        (2, *IMAGE),
        train_data=(_imgs, None),
        phases=("d", "g"),
    ),
    case(
        "DCGAN-lecture-native-conditional",
        DCGAN,
        dict(
            image_shape=IMAGE,
            latent_dim=LATENT,
            arch="lecture",
            conv_transpose="native",
            num_classes=3,
            label_noise=0.1,
            seed=1,
        ),
        [latents(), labels(2)],
        (2, *IMAGE),
        train_data=(_imgs, labels(4)),
        phases=("d", "g"),
    ),
    case(
        "WGANGP-lecture-conditional",
        WGANGP,
        dict(
            image_shape=IMAGE, latent_dim=LATENT, n_critic=2, gp_weight=5.0, num_classes=3, seed=0
        ),
        [latents(), labels(2)],
        (2, *IMAGE),
        train_data=(_imgs, labels(4)),
        phases=("critic", "g"),
        allow_unchanged=CRITIC_BIAS,
    ),
    # ---- language models
    case(
        "Translator-sinusoidal-pre-norm",
        Translator,
        dict(
            vocabulary_size=VOCAB,
            sequence_length=LENGTH,
            **TINY,
            encoder_layers=1,
            decoder_layers=1,
            norm_first=True,
            positions="sinusoidal",
            dropout=0.0,
            label_smoothing=0.0,
        ),
        (_src, _tgt),
        (2, LENGTH, VOCAB),
        train_data=((_src, _tgt), ids()),
        phases=("translator",),
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "GPT-tied",
        GPT,
        dict(vocabulary_size=VOCAB, sequence_length=LENGTH, **TINY, num_layers=1),
        ids(pad=False),
        (2, LENGTH, VOCAB),
        train_data=(ids(pad=False), ids(pad=False)),
        phases=("gpt",),
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "BertPretrainer-nsp-positions",
        BertPretrainer,
        dict(
            next_sentence=True, vocabulary_size=VOCAB, sequence_length=LENGTH, **TINY, num_layers=1
        ),
        (ids(), labels(2 * LENGTH, 2).reshape(2, LENGTH), np.array([[1, 2], [0, 3]], "int32")),
        ((2, 2, VOCAB), (2, 2)),
        train_data=(
            (ids(), labels(2 * LENGTH, 2).reshape(2, LENGTH), np.array([[1, 2], [0, 3]], "int32")),
            (ids(2, 2), np.ones((2, 2), "float32"), np.array([0, 1], "int32")),
        ),
        phases=("mlm",),
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "TokenTagger",
        TokenTagger,
        dict(num_tags=3, vocabulary_size=VOCAB, sequence_length=LENGTH, **TINY, num_layers=1),
        ids(),
        (2, LENGTH, 3),
        train_data=(ids(), labels(2 * LENGTH).reshape(2, LENGTH)),
        phases=("tagger",),
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "TextClassifier-mean",
        TextClassifier,
        dict(num_classes=3, vocabulary_size=VOCAB, sequence_length=LENGTH, **TINY, num_layers=1),
        ids(),
        (2, 3),
        train_data=(ids(), labels(2)),
        phases=("classifier",),
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "ELMo-two-layers",
        ELMo,
        dict(**ELMO_TINY, num_layers=2),
        ids(),
        ((2, LENGTH, VOCAB), (2, LENGTH, VOCAB)),
        train_data=(ids(), None),
        phases=("elmo",),
    ),
    # ---- asset pricing
    case(
        "ConditionalAutoencoder-ca2",
        ConditionalAutoencoder,
        dict(n_characteristics=4, n_factors=2, hidden=(3, 2), l1=1e-4),
        list(_panel),
        (3, 5),
    ),
    # ---- builders of functional models (config: keras.Model.from_config)
    case(
        "build_generator",
        build_generator,
        dict(latent_dim=LATENT, image_shape=IMAGE, base_channels=2, widths=(4, 3, 2)),
        latents(),
        (2, *IMAGE),
    ),
    case(
        "build_discriminator-conditional",
        build_discriminator,
        dict(image_shape=IMAGE, widths=(2, 3, 3), num_classes=3),
        [images(2), labels(2)],
        (2, 1),
    ),
    case(
        "build_bn_generator-conditional",
        build_bn_generator,
        dict(latent_dim=LATENT, image_shape=IMAGE, widths=(4, 3, 2), num_classes=3),
        [latents(), labels(2)],
        (2, *IMAGE),
    ),
    case(
        "build_bn_discriminator",
        build_bn_discriminator,
        dict(image_shape=IMAGE, widths=(2, 3)),
        images(2),
        (2, 1),
    ),
    case("build_critic", build_critic, dict(image_shape=IMAGE, widths=(2, 3)), images(2), (2, 1)),
    case(
        "build_vae_encoder",
        build_vae_encoder,
        dict(image_shape=IMAGE, latent_dim=2, widths=(2, 3), hidden=5),
        images(2),
        ((2, 2), (2, 2)),
    ),
    case(
        "build_vae_decoder",
        build_vae_decoder,
        dict(latent_dim=2, image_shape=IMAGE, widths=(4, 4), hidden=8),  # 3,2 + 5 died on TF
        latents(2, 2),
        (2, *IMAGE),
    ),
    case(
        "build_dense_encoder",
        build_dense_encoder,
        dict(image_shape=IMAGE, latent_dim=2, hidden=(5,)),
        images(2),
        (2, 2),
    ),
    case(
        "build_dense_decoder",
        build_dense_decoder,
        dict(latent_dim=2, image_shape=IMAGE, hidden=(5,)),
        latents(2, 2),
        (2, *IMAGE),
    ),
    case(
        "build_conv_encoder",
        build_conv_encoder,
        dict(image_shape=IMAGE, latent_dim=2, widths=(2, 3)),
        images(2),
        (2, 2),
    ),
    case(
        "build_conv_decoder",
        build_conv_decoder,
        dict(latent_dim=2, image_shape=IMAGE, widths=(3, 2)),
        latents(2, 2),
        (2, *IMAGE),
    ),
    case(
        "beta_network",
        beta_network,
        dict(n_characteristics=4, n_factors=2, hidden=(3,)),
        [_panel[0], _panel[2]],
        (3, 5, 2),
    ),
    case(
        "factor_network",
        factor_network,
        dict(n_portfolios=4, n_factors=2, l1=1e-3),
        _panel[1],
        (3, 2),
    ),
]


@pytest.mark.parametrize("spec", CASES)
def test_model(spec, tmp_path):
    report = run_model_test(**spec, tmp_dir=tmp_path)
    skipped = spec.get("skip", {})
    assert report == {
        check: f"not run: {skipped[check]}" if check in skipped else PASSED
        for check in MODEL_CHECKS
    }


# BertBackbone is a layer (the encoder shared by BERT, the tagger and the classifier).
LAYER_CASES = [
    pytest.param(
        dict(
            cls=BertBackbone,
            init_kwargs=dict(
                vocabulary_size=VOCAB,
                sequence_length=LENGTH,
                **TINY,
                num_layers=1,
                num_segments=3,
                pad_id=1,
                dropout=0.0,
            ),
            expected_num_trainable_weights=3 + 2 + 16,  # 3 embeddings, LayerNorm, one block
            input_data={"token_ids": ids(), "segment_ids": labels(2 * LENGTH).reshape(2, LENGTH)},
            expected_output_shape=(2, LENGTH, 8),
            allow_unchanged=KEY_BIAS,
        ),
        id="BertBackbone-segments",
    ),
    # ELMo's parts: the two LSTM stacks, the layer mix (eq. 1), and the two as one encoder.
    pytest.param(
        dict(
            cls=BiLM,
            init_kwargs=dict(**ELMO_TINY, num_layers=2),
            expected_num_trainable_weights=1 + 4 * 3,  # embedding; 4 LSTMs x 3 weights
            input_data=ids(),
            expected_output_shape=(((2, LENGTH, 8),) * 2, ((2, LENGTH, 8),) * 2, (2, LENGTH, 8)),
        ),
        id="BiLM-two-layers",
    ),
    pytest.param(
        dict(
            cls=ScalarMix,
            init_kwargs=dict(num_inputs=3),
            expected_num_trainable_weights=2,
            input_data=[_rng.standard_normal((2, LENGTH, 4)).astype("float32") for _ in range(3)],
            expected_output_shape=(2, LENGTH, 4),
        ),
        id="ScalarMix-three",
    ),
    pytest.param(
        dict(
            cls=ELMoEncoder,
            init_kwargs=dict(**ELMO_TINY, num_layers=1),
            expected_num_trainable_weights=1 + 2 * 3 + 2,  # biLM, then the mix's s and gamma
            input_data=ids(),
            expected_output_shape=(2, LENGTH, 16),
        ),
        id="ELMoEncoder-fine-tuned",
    ),
]


@pytest.mark.parametrize("spec", LAYER_CASES)
def test_layer_in_models(spec, tmp_path):
    report = run_layer_test(**spec, tmp_dir=tmp_path)
    assert report == dict.fromkeys(LAYER_CHECKS, PASSED)


# ---- bugs the harness found (fixed): serialization of ConditionalAutoencoder and TextClassifier's loss
def test_conditional_autoencoder_config_round_trip():
    model = ConditionalAutoencoder(4, 2, (3, 2))
    model(to_tensors(list(_panel)))
    check_config_round_trip(model, list(_panel), unpack_dict=False)


def test_conditional_autoencoder_keras_file(tmp_path):
    model = ConditionalAutoencoder(4, 2, (3, 2))
    check_model_saving(model, list(_panel), tmp_path)


def test_text_classifier_config_keeps_the_loss():
    clf = TextClassifier(
        2,
        loss=FocalLoss(gamma=2.0),
        vocabulary_size=VOCAB,
        sequence_length=LENGTH,
        **TINY,
        num_layers=1,
    )
    clone = TextClassifier.from_config(clf.get_config())
    assert isinstance(clone.loss_fn, FocalLoss)


# ---- the tables
def _public_models():
    """Public keras.Model / keras.layers.Layer subclasses defined in keraslab.models modules, and
    the ``build_*`` functions there."""
    classes, builders = set(), set()
    for info in pkgutil.iter_modules(keraslab.models.__path__):
        module = importlib.import_module(f"keraslab.models.{info.name}")
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
                classes.add(obj)
            elif inspect.isfunction(obj) and attr.startswith("build_"):
                builders.add(obj)
    return classes, builders


# Public model classes that are not run through the harness, and why.
NOT_COVERED = {
    "ImageGAN": "abstract base of DCGAN and WGANGP (no phases, no networks of its own); covered "
    "through both",
}


def test_every_public_model_is_covered():
    covered = {p.values[0]["cls"] for p in CASES + LAYER_CASES}
    classes, builders = _public_models()
    missing = {c.__name__ for c in classes - covered} - set(NOT_COVERED)
    assert not missing, f"not run through the harness: {sorted(missing)}"
    # build_networks returns two preset builders' outputs (covered one by one).
    missing = {f.__name__ for f in builders - covered} - {"build_networks"}
    assert not missing, f"builders not run through the harness: {sorted(missing)}"
    assert all(issubclass(c, PhasedModel) for c in (VAE, DCGAN, WGANGP, GPT, Translator))


def test_skipped_checks_are_the_documented_ones():
    skipped = {p.id: sorted(p.values[0].get("skip", {})) for p in CASES if p.values[0].get("skip")}
    assert skipped == {}


CLASSES = [p for p in CASES + LAYER_CASES if isinstance(p.values[0]["cls"], type)]


@pytest.mark.parametrize("spec", CLASSES)
def test_configs_keep_trainable(spec):
    """A frozen model or layer, saved and loaded, stays frozen (the models' hand-written configs
    used to drop ``trainable``, and ELMoEncoder its own)."""
    model = spec["cls"](**_kwargs(spec["init_kwargs"]), trainable=False)
    config = model.get_config()
    loaded = type(model).from_config(config)
    assert model.trainable is False and loaded.trainable is False, config
    assert not loaded.trainable_weights, [w.path for w in loaded.trainable_weights]
