"""Freezing, heads, two-stage fine-tuning, adapters, LoRA and users' weight files
(keraslab.transfer.finetune, keraslab.layers.adapters)."""

import h5py
import keras
import numpy as np
import pytest
from keras import ops

from keraslab.errors import UserError
from keraslab.layers.adapters import Adapter
from keraslab.layers.transformer import TransformerEncoder
from keraslab.transfer import finetune as ft


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _weights(model):
    return {w.path: _np(w).copy() for w in model.weights}


def small_convnet(num_blocks=3, name="base"):
    """A tiny conv network whose layers are named like keras.applications' blocks."""
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for b in range(1, num_blocks + 1):
        x = keras.layers.Conv2D(4 * b, 3, padding="same", name=f"block{b}a_conv")(x)
        x = keras.layers.BatchNormalization(name=f"block{b}a_bn")(x)
        x = keras.layers.ReLU(name=f"block{b}a_relu")(x)
    return keras.Model(inputs, x, name=name)


def _images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32") + y[:, None, None, None] * 0.8
    return x, y


def test_freeze_until_and_blocks():
    base = small_convnet()
    assert ft.blocks(base) == ["block1a", "block2a", "block3a"]
    frozen = ft.freeze(base, until="block2a")
    assert frozen == ["block1a_conv", "block1a_bn", "block2a_conv", "block2a_bn"]
    assert not base.get_layer("block2a_conv").trainable
    assert base.get_layer("block3a_conv").trainable
    assert not base.get_layer("block3a_bn").trainable  # BatchNorm stays frozen (inference mode)
    with pytest.raises(UserError, match="no layer"):
        ft.freeze(base, until="block9")
    assert ft.unfreeze_top(base, 1) == frozen
    with pytest.raises(UserError, match="3 blocks"):
        ft.unfreeze_top(base, 4)


@pytest.mark.backend
def test_frozen_weights_do_not_move_even_when_frozen_after_compile():
    """The trap: changing `trainable` after compile() is ignored by TensorFlow's compiled step
    (and breaks JAX's); `recompile` fixes it on every backend."""
    keras.utils.set_random_seed(0)
    base = small_convnet(2)
    model = ft.add_head(base, 2)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = _images()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # compiled with everything trainable
    ft.freeze(base, until="block1a")
    ft.recompile(model)
    before = _weights(model)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    after = _weights(model)
    for path in before:
        moved = not np.array_equal(before[path], after[path])
        if path.startswith("block1a") or "block2a_bn" in path:
            assert not moved, f"frozen {path} changed"
        elif path.startswith(("block2a_conv", "classifier_logits")):
            assert moved, f"trainable {path} did not change"


@pytest.mark.backend
def test_fine_tune_two_stages():
    keras.utils.set_random_seed(1)
    base = small_convnet(3)
    model = ft.add_head(base, 2, dropout=0.0)
    x, y = _images(128)
    start = _weights(model)
    loss0 = model.evaluate(x, y, verbose=0, return_dict=False) if model.compiled else None
    assert loss0 is None
    out = ft.fine_tune(
        model, base, (x, y), head_epochs=3, fine_tune_epochs=2, unfreeze_blocks=1,
        head_learning_rate=1e-2, fine_tune_learning_rate=1e-3, batch_size=32, verbose=0,
    )  # fmt: skip
    end = _weights(model)
    head_hist, ft_hist = out["head"]["history"]["loss"], out["fine_tune"]["history"]["loss"]
    assert head_hist[-1] < head_hist[0]  # the head learns
    # Stage 1 trained the head only; stage 2 also block3a's conv; BatchNorm never moved.
    for path in start:
        moved = not np.array_equal(start[path], end[path])
        if path.startswith(("block1a", "block2a")) or "_bn/" in path:
            assert not moved, path
        if path.startswith(("block3a_conv", "classifier_logits")):
            assert moved, path
    head_only, total = out["head"]["trainable_parameters"]
    top_block, _ = out["fine_tune"]["trainable_parameters"]
    assert head_only == 12 * 2 + 2 and top_block == head_only + 3 * 3 * 8 * 12 + 12
    assert total == sum(int(np.prod(w.shape)) for w in model.weights)
    assert np.isfinite(ft_hist).all()


@pytest.mark.backend
def test_adapter_formula_and_near_identity_start():
    x = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    a = Adapter(bottleneck=3)
    y = _np(a(x))
    down_k, down_b = _np(a.down.kernel), _np(a.down.bias)
    up_k, up_b = _np(a.up.kernel), _np(a.up.bias)
    h = x @ down_k + down_b
    from scipy.special import erf

    gelu = 0.5 * h * (1 + erf(h / np.sqrt(2)))  # exact GELU (keras's default approximate=False)
    np.testing.assert_allclose(y, x + gelu @ up_k + up_b, atol=1e-5)
    assert np.abs(y - x).max() < 1e-2  # starts near the identity
    assert np.abs(y - x).max() > 0  # but not exactly (its weights can still learn)


def _transformer_classifier():
    ids = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 16, name="embed")(ids)
    for i in range(2):
        h = TransformerEncoder(num_heads=2, intermediate_dim=32, dropout=0.0, name=f"block{i}")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(ids, keras.layers.Dense(2, name="head")(h))


def _tokens(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(1, 10, size=(n, 6)) + 10 * y[:, None] * (rng.random((n, 6)) < 0.5)
    return x.astype("int32"), y


@pytest.mark.backend
def test_adapters_in_transformer_blocks_train_alone():
    keras.utils.set_random_seed(2)
    model = _transformer_classifier()
    x, y = _tokens()
    reference = _np(model(x))
    ft.insert_adapters(model, bottleneck=4)
    out = _np(model(x))
    assert np.abs(out - reference).max() < 0.05 and not np.array_equal(out, reference)
    names = sorted(w.path for w in model.trainable_weights)
    # Two adapters per block (after attention and after feed-forward), layer norms, head.
    assert sum("adapter" in n for n in names) == 2 * 2 * 4
    assert all(("adapter" in n) or ("norm" in n) or n.startswith("head") for n in names)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = _weights(model)
    hist = model.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"]
    after = _weights(model)
    assert hist[-1] < hist[0]
    trainable = set(names)
    for path in before:
        assert np.array_equal(before[path], after[path]) == (path not in trainable), path


@pytest.mark.backend
def test_adapters_after_conv_blocks():
    keras.utils.set_random_seed(3)
    base = small_convnet(2)
    model = ft.add_head(base, 2, dropout=0.0)
    x, _ = _images(8)
    reference = _np(model(x))
    adapted = ft.insert_adapters(base, bottleneck=2, after=["block1a_relu", "block2a_relu"])
    assert [layer.name for layer in adapted.layers if isinstance(layer, Adapter)] == [
        "block1a_relu_adapter", "block2a_relu_adapter",
    ]  # fmt: skip
    # The adapters are close to the identity: the conv features barely change.
    np.testing.assert_allclose(_np(adapted(x)), _np(base(x)), atol=0.05)
    assert reference.shape == (8, 2)
    with pytest.raises(UserError, match="no Transformer block"):
        ft.insert_adapters(small_convnet(1))


@pytest.mark.backend
def test_lora_trains_low_rank_factors_only():
    keras.utils.set_random_seed(4)
    model = _transformer_classifier()
    x, y = _tokens()
    reference = _np(model(x))
    done = ft.enable_lora(model, rank=2)
    assert len(done) == 4 and all(p.endswith(("query", "value")) for p in done)
    np.testing.assert_allclose(_np(model(x)), reference, atol=1e-6)  # B starts at zero
    names = {w.path for w in model.trainable_weights}
    assert sum("lora" in n for n in names) == 8
    assert not any(n.endswith(("query/kernel", "value/kernel", "key/kernel")) for n in names)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = _weights(model)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = _weights(model)
    for path in before:
        assert np.array_equal(before[path], after[path]) == (path not in names), path
    # Freezing the whole model afterwards reaches the LoRA factors too (on TensorFlow an
    # assignment of a layer's current `trainable` value is ignored unless forced).
    ft.freeze(model)
    assert model.trainable_weights == []


def _dense_model(width):
    i = keras.Input((4,))
    x = keras.layers.Dense(3, name="a")(i)
    return keras.Model(i, keras.layers.Dense(width, name="b")(x))


def test_load_pretrained_keras3_files(tmp_path):
    good = _dense_model(5)
    good.save_weights(tmp_path / "w.weights.h5")
    other = _dense_model(5)
    ft.load_pretrained(tmp_path / "w.weights.h5", other)
    for a, b in zip(good.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    wrong = _dense_model(6)
    before = wrong.get_weights()
    with pytest.raises(UserError) as e:
        ft.load_pretrained(tmp_path / "w.weights.h5", wrong)
    msg = str(e.value)
    assert "\n" not in msg and "'b'" in msg and "(3, 6)" in msg and "(3, 5)" in msg
    for a, b in zip(before, wrong.get_weights()):  # nothing half-loaded
        np.testing.assert_array_equal(a, b)
    good.save(tmp_path / "m.keras")
    loaded = ft.load_pretrained(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.get_weights()[0], good.get_weights()[0])
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(UserError, match="cannot load"):
        ft.load_pretrained(tmp_path / "bad.keras")
    with pytest.raises(UserError, match="does not exist"):
        ft.load_pretrained(tmp_path / "none.h5", good)


def _write_legacy(path, layers):
    """A Keras 2 style weights file (the layout of keras.applications' downloads), by hand."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n, _ in layers]
        for name, arrays in layers:
            g = f.create_group(name)
            names = [f"{name}/w{i}:0".encode() for i in range(len(arrays))]
            g.attrs["weight_names"] = names
            for n, a in zip(names, arrays):
                g.create_dataset(n.decode(), data=a)


def test_load_pretrained_legacy_h5(tmp_path):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=s).astype("float32") for s in [(4, 3), (3,), (3, 5), (5,)]]
    _write_legacy(tmp_path / "ok.h5", [("a", weights[:2]), ("b", weights[2:])])
    model = ft.load_pretrained(tmp_path / "ok.h5", _dense_model(5))
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(UserError) as e:
        ft.load_pretrained(tmp_path / "ok.h5", _dense_model(7))
    assert "'b'" in str(e.value) and "3×7" in str(e.value) and "3×5" in str(e.value)
    _write_legacy(tmp_path / "short.h5", [("a", weights[:2])])
    with pytest.raises(UserError, match="1 layers but the model has 2"):
        ft.load_pretrained(tmp_path / "short.h5", _dense_model(5))
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(UserError, match="not an HDF5"):
        ft.load_pretrained(tmp_path / "text.h5", _dense_model(5))


def test_add_head_on_a_base_with_named_inputs():
    inputs = {k: keras.Input((5,), dtype="int32", name=k) for k in ("token_ids", "padding_mask")}
    x = keras.layers.Embedding(10, 4)(inputs["token_ids"])
    x = x * ops.expand_dims(ops.cast(inputs["padding_mask"], "float32"), -1)
    base = keras.Model(inputs, x)
    model = ft.add_head(base, 3, dropout=0.0)
    ids = np.array([[1, 2, 3, 0, 0]], "int32")
    out = _np(model({"token_ids": ids, "padding_mask": (ids > 0).astype("int32")}))
    assert out.shape == (1, 3)
    with pytest.raises(UserError, match="at least 2 classes"):
        ft.add_head(base, 1)
