"""Tests for the shipped domain classifier (fast FID features) and its training script."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keraslab.data import is_installed, load
from keraslab.metrics.classifier import (
    ClassifierFeatures,
    available_classifiers,
    build_classifier,
    weights_paths,
)

N = 2000  # images per FID set

needs_mnist = pytest.mark.skipif(not is_installed("mnist"), reason="MNIST not installed")
needs_fashion = pytest.mark.skipif(
    not is_installed("fashion_mnist"), reason="Fashion-MNIST not installed"
)


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """Independent FID: ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)).

    Tr sqrtm(S1 S2) is the sum of the square roots of the eigenvalues of S1 S2 (real and
    >= 0 for covariances), which stays exact when S1, S2 are singular (dead ReLU features).
    """
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    eig = np.clip(np.linalg.eigvals(s1 @ s2).real, 0.0, None)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.sqrt(eig).sum())


@pytest.fixture(scope="module")
def mnist():
    return load("mnist", "uint8")


@pytest.fixture(scope="module")
def clf():
    return ClassifierFeatures("mnist")


# ---------------------------------------------------------------- shipped files (no backend)


@pytest.mark.parametrize("dataset,min_acc", [("mnist", 0.99), ("fashion_mnist", 0.90)])
def test_shipped_weights_and_metadata(dataset, min_acc):
    weights, meta_path = weights_paths(dataset)
    assert weights.is_file() and meta_path.is_file()
    assert weights.stat().st_size < 2_000_000
    meta = json.loads(meta_path.read_text())
    assert meta["dataset"] == dataset
    assert meta["test_accuracy"] >= min_acc
    assert meta["image_shape"] == [28, 28, 1] and meta["feature_dim"] == 128
    for key in ("epochs", "date", "backend", "keras_version", "command"):
        assert meta[key]
    assert "keraslab.metrics.train_classifier" in meta["command"]
    assert dataset in available_classifiers()


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="available: .*mnist") as err:
        ClassifierFeatures("cifar10")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="available: none"):
        ClassifierFeatures("mnist", weights_dir=tmp_path)


# ---------------------------------------------------------------- backend-dependent


@pytest.mark.backend
def test_build_classifier_shapes():
    model = build_classifier((28, 28, 1), classes=10, feature_dim=128)
    assert model.output_shape == (None, 10)
    assert model.get_layer("features").output.shape[-1] == 128
    assert model.count_params() < 300_000
    small = build_classifier((8, 8, 1), classes=3, feature_dim=16)
    assert small.output_shape == (None, 3)


@pytest.mark.backend
@needs_mnist
def test_mnist_accuracy_matches_record(clf, mnist):
    _, (xt, yt) = mnist
    logits = clf.logits(xt)
    assert logits.shape == (len(xt), 10)
    acc = float((logits.argmax(-1) == yt).mean())
    assert acc >= 0.99
    assert abs(acc - clf.accuracy) <= 2e-3
    assert clf.name == "classifier-mnist"


@pytest.mark.backend
@needs_mnist
def test_features_shape_dtype_and_input_conventions(clf, mnist):
    _, (xt, _) = mnist
    x = xt[:300]
    f = clf(x)
    assert f.shape == (300, 128) and f.dtype == np.float64
    assert np.isfinite(f).all() and f.std() > 0
    # uint8 0..255 and float [0, 1] give the same features, as do (N, H, W) and odd batches.
    f_float = clf(x.astype(np.float32) / 255.0)
    np.testing.assert_allclose(f_float, f, atol=1e-5)
    np.testing.assert_allclose(clf(x[..., 0], batch_size=7), f, atol=1e-5)


@pytest.mark.backend
def test_bad_inputs_raise(clf):
    with pytest.raises(ValueError, match="shaped"):
        clf(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf(np.full((2, 28, 28, 1), 255.0, np.float32))  # 0..255 passed as float
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf(np.full((2, 28, 28, 1), -1.0, np.float32))  # [-1, 1] passed as is


@pytest.mark.backend
@needs_mnist
@needs_fashion
def test_fid_separates_domains(clf, mnist):
    (x, _), (xt, _) = mnist
    _, (fashion, _) = load("fashion_mnist", "uint8")
    rng = np.random.default_rng(0)
    noisy = np.clip(xt[:N] / 255.0 + rng.normal(0.0, 0.5, xt[:N].shape), 0.0, 1.0)
    f_train, f_test = clf(x[:N]), clf(xt[:N])
    same = frechet_distance(f_train, f_test)
    vs_fashion = frechet_distance(f_test, clf(fashion[:N]))
    vs_noise = frechet_distance(f_test, clf(noisy))
    assert same >= 0
    assert vs_fashion > 10 * same
    assert vs_noise > 10 * same


@pytest.mark.backend
def test_train_script_end_to_end_on_digits(tmp_path):
    from keraslab.metrics.train_classifier import main

    meta = main(["--dataset", "digits", "--epochs", "1", "--out", str(tmp_path), "--quiet"])
    weights, meta_path = weights_paths("digits", tmp_path)
    assert weights.is_file() and meta_path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [meta_path.name, weights.name]
    saved = json.loads(meta_path.read_text())
    assert saved == meta
    assert saved["epochs"] == 1 and saved["image_shape"] == [8, 8, 1]
    assert 0.0 <= saved["test_accuracy"] <= 1.0
    assert "--dataset digits" in saved["command"]
    feats = ClassifierFeatures("digits", weights_dir=tmp_path)
    _, (xt, _) = load("digits", "uint8")
    f = feats(xt[:50])
    assert f.shape == (50, 128) and np.isfinite(f).all()
    assert feats.name == "classifier-digits"
