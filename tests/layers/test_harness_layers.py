"""Every public keraslab layer through the shared harness (tests/harness.py): eager call and
shapes, get_config/from_config and serialization round trips, a .keras save/load inside a
functional model, and one training step; on jax, tensorflow and torch, at tiny sizes.

A check an object cannot run is listed in its case's ``skip`` with the reason, and
``test_skipped_checks_are_the_documented_ones`` pins the whole table.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest

import keraslab.layers
from harness import LAYER_CHECKS, PASSED, run_layer_test
from keraslab.layers import (
    Conv2DTranspose,
    EmbeddingNoise,
    MultiHeadAttention,
    PositionEmbedding,
    Sampling,
    SinusoidalPositionalEncoding,
    TokenAndPositionEmbedding,
    TransformerDecoder,
    TransformerEncoder,
)
from keraslab.layers.adapters import Adapted, Adapter

pytestmark = pytest.mark.backend


_rng = np.random.default_rng(0)


def f32(*shape):
    return _rng.standard_normal(shape).astype("float32")


def ids(*shape, vocabulary=11):
    return _rng.integers(1, vocabulary, shape).astype("int32")


def keep(*shape, pad_last=2):
    """A boolean (batch, length) mask, the last ``pad_last`` positions of row 0 padded."""
    mask = np.ones(shape, bool)
    mask[0, -pad_last:] = False
    return mask


# Softmax ignores a constant added to every score: the key projection's bias gets no gradient.
KEY_BIAS = ("key/bias",)
NO_WEIGHTS_NO_GRADIENT = (
    "no weights, and its output depends on the input's shape only: nothing to train and no "
    "gradient to its input"
)


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


CASES = [
    # ---- conv
    case(
        "Conv2DTranspose-subpixel-same-s2",
        Conv2DTranspose,
        dict(filters=3, kernel_size=3, strides=2, padding="same", implementation="subpixel"),
        f32(2, 4, 4, 2),
        (2, 8, 8, 3),
        expected_num_trainable_weights=2,
    ),
    case(
        "Conv2DTranspose-native-valid-output_padding",
        Conv2DTranspose,
        dict(
            filters=2,
            kernel_size=3,
            strides=2,
            padding="valid",
            output_padding=1,
            implementation="native",
            activation="relu",
        ),
        f32(2, 3, 3, 2),
        (2, 8, 8, 2),
        expected_num_trainable_weights=2,
    ),
    case(
        "Conv2DTranspose-auto-no-bias",
        Conv2DTranspose,
        dict(filters=4, kernel_size=4, strides=(2, 1), padding="same", use_bias=False),
        f32(2, 3, 3, 2),
        (2, 6, 3, 4),
        expected_num_trainable_weights=1,
    ),
    # ---- attention
    case(
        "MultiHeadAttention-self-causal",
        MultiHeadAttention,
        dict(num_heads=2, key_dim=4),
        f32(2, 5, 8),
        (2, 5, 8),
        call_kwargs=dict(use_causal_mask=True),
        expected_num_trainable_weights=8,
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "MultiHeadAttention-cross-masked-scores",
        MultiHeadAttention,
        dict(num_heads=2, key_dim=3, value_dim=5, output_dim=7, dropout=0.1, seed=1),
        {"query": f32(2, 3, 6), "value": f32(2, 4, 6), "value_mask": keep(2, 4)},
        ((2, 3, 7), (2, 2, 3, 4)),
        call_kwargs=dict(return_attention_scores=True),
        expected_num_trainable_weights=8,
        allow_unchanged=KEY_BIAS,
    ),
    # ---- positional
    case(
        "PositionEmbedding-start",
        PositionEmbedding,
        dict(sequence_length=7),
        f32(2, 5, 4),
        (2, 5, 4),
        call_kwargs=dict(start=2),
        expected_num_trainable_weights=1,
        check_input_gradient=False,  # the position rows do not depend on the input's values
    ),
    case(
        "SinusoidalPositionalEncoding",
        SinusoidalPositionalEncoding,
        dict(max_wavelength=100.0),
        f32(2, 5, 6),
        (2, 5, 6),
        call_kwargs=dict(start=1),
        expected_num_trainable_weights=0,
        skip={"training": NO_WEIGHTS_NO_GRADIENT},
    ),
    case(
        "TokenAndPositionEmbedding-learned",
        TokenAndPositionEmbedding,
        dict(vocabulary_size=11, sequence_length=6, embedding_dim=4),
        ids(2, 6),
        (2, 6, 4),
        expected_num_trainable_weights=2,
    ),
    case(
        "TokenAndPositionEmbedding-sinusoidal-scale-mask_zero",
        TokenAndPositionEmbedding,
        dict(
            vocabulary_size=11,
            sequence_length=6,
            embedding_dim=4,
            positions="sinusoidal",
            scale=True,
            mask_zero=True,
        ),
        np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], "int32"),
        (2, 5, 4),
        expected_num_trainable_weights=1,
    ),
    # ---- sampling
    case(
        "Sampling",
        Sampling,
        dict(seed=3),
        [f32(4, 3), f32(4, 3)],  # [mean, log_var], one call argument
        (4, 3),
        expected_num_trainable_weights=0,  # trained through its inputs: their scales must move
    ),
    case(
        "EmbeddingNoise",
        EmbeddingNoise,
        dict(stddev=0.1, seed=3),
        f32(2, 5, 8),
        (2, 5, 8),
        expected_num_trainable_weights=0,
    ),
    # ---- transformer blocks
    case(
        "TransformerEncoder-post-norm-padding",
        TransformerEncoder,
        dict(num_heads=2, intermediate_dim=12),
        {"x": f32(2, 5, 8), "padding_mask": keep(2, 5)},
        (2, 5, 8),
        expected_num_trainable_weights=16,
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "TransformerDecoder-cross-attention-masks",
        TransformerDecoder,
        dict(num_heads=2, intermediate_dim=12),
        {
            "x": f32(2, 4, 8),
            "context": f32(2, 6, 8),
            "padding_mask": keep(2, 4, pad_last=1),
            "context_mask": keep(2, 6),
        },
        (2, 4, 8),
        expected_num_trainable_weights=26,
        allow_unchanged=KEY_BIAS,
    ),
    case(
        "TransformerDecoder-decoder-only-pre-norm",
        TransformerDecoder,
        dict(num_heads=2, intermediate_dim=12, cross_attention=False, norm_first=True),
        f32(2, 5, 8),
        (2, 5, 8),
        expected_num_trainable_weights=16,
        allow_unchanged=KEY_BIAS,
    ),
    # ---- adapters
    case(
        "Adapter-feature-map",
        Adapter,
        dict(bottleneck=2),
        f32(2, 3, 3, 4),
        (2, 3, 3, 4),
        expected_num_trainable_weights=4,
    ),
    case(
        "Adapted-dense",
        Adapted,
        lambda: dict(inner=keras.layers.Dense(6, name="inner"), adapter=Adapter(2, name="ad")),
        f32(2, 5, 4),
        (2, 5, 6),
        expected_num_trainable_weights=6,
    ),
    case(
        "Adapted-cross-attention",
        Adapted,
        lambda: dict(inner=MultiHeadAttention(2, 3, name="inner"), adapter=Adapter(2, name="ad")),
        {"query": f32(2, 3, 6), "value": f32(2, 4, 5)},  # value width != query width
        (2, 3, 6),
        expected_num_trainable_weights=12,
        allow_unchanged=KEY_BIAS,
    ),
]


@pytest.mark.parametrize("spec", CASES)
def test_layer(spec, tmp_path):
    report = run_layer_test(**spec, tmp_dir=tmp_path)
    skipped = spec.get("skip", {})
    assert report == {
        check: f"not run: {skipped[check]}" if check in skipped else PASSED
        for check in LAYER_CHECKS
    }


def _public_layer_classes():
    """Every public ``keras.layers.Layer`` subclass defined in a keraslab.layers module."""
    found = set()
    for info in pkgutil.iter_modules(keraslab.layers.__path__):
        module = importlib.import_module(f"keraslab.layers.{info.name}")
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, keras.layers.Layer)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.add(obj)
    return found


def test_every_public_layer_is_covered():
    covered = {p.values[0]["cls"] for p in CASES}
    assert _public_layer_classes() - covered == set()


def test_skipped_checks_are_the_documented_ones():
    skipped = {p.id: sorted(p.values[0].get("skip", {})) for p in CASES if p.values[0].get("skip")}
    assert skipped == {"SinusoidalPositionalEncoding": ["training"]}
