"""Image augmentation: shapes and dtype kept, images changed, seeded, identity outside training,
trainable inside a model on every backend."""

import keras
import numpy as np
import pytest

from keraslab.augment.image import augment_images, image_augmenter
from keraslab.augment.specs import ImagePipeline
from keraslab.data import load_digits

pytestmark = pytest.mark.backend


def _images(n=16):
    (x, _), _ = load_digits()
    return x[:n].astype("float32")


def test_augmented_images_keep_shape_dtype_and_range_and_differ():
    x = _images()
    out = augment_images(x, n=3, seed=0)
    assert out.shape == (3 * len(x), *x.shape[1:]) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    for k in range(3):
        copy = out[k * len(x) : (k + 1) * len(x)]
        changed = np.abs(copy - x).reshape(len(x), -1).max(axis=1) > 1e-3
        assert changed.mean() > 0.9  # nearly every image changed
    assert not np.allclose(out[: len(x)], out[len(x) : 2 * len(x)])  # copies differ


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    x = _images(8)
    a = augment_images(x, n=2, seed=7)
    np.testing.assert_array_equal(a, augment_images(x, n=2, seed=7))
    assert not np.allclose(a, augment_images(x, n=2, seed=8))


def test_each_layer_alone_does_what_it_says():
    x = _images(8)
    none = dict(flip="none", translate=0, rotate=0, zoom=0, contrast=0, brightness=0)
    identity = augment_images(x, 1, ImagePipeline(**none))
    np.testing.assert_array_equal(identity, x)  # an empty pipeline is the identity
    flips = augment_images(x, 1, ImagePipeline(**{**none, "flip": "horizontal"}), seed=3)
    for original, flipped in zip(x, flips):  # each image is itself or its mirror image
        assert np.allclose(flipped, original) or np.allclose(flipped, original[:, ::-1])
    assert any(not np.allclose(f, o) for f, o in zip(flips, x))
    brighter = augment_images(x, 1, ImagePipeline(**{**none, "brightness": 0.3}), seed=3)
    shift = (brighter - x).reshape(len(x), -1)
    inside = (x.reshape(len(x), -1) > 0.35) & (x.reshape(len(x), -1) < 0.65)  # not clipped
    for s, m in zip(shift, inside):  # one brightness offset per image, within the factor
        if m.any():
            assert np.ptp(s[m]) < 1e-4 and abs(s[m][0]) <= 0.3 + 1e-6


def test_inside_a_model_it_acts_only_in_training_and_the_model_trains():
    (x, y), _ = load_digits()
    x, y = x[:256].astype("float32"), y[:256]
    inputs = keras.Input(x.shape[1:])
    h = image_augmenter(ImagePipeline(), seed=0)(inputs)
    h = keras.layers.Conv2D(8, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    np.testing.assert_allclose(model.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


def test_augmented_batches_augment_each_batch_keep_labels_and_transform():
    from keraslab.augment.image import AugmentedBatches

    x = (_images(40) * 255).astype("uint8")
    y = np.arange(40)
    batches = AugmentedBatches(x, y, 16, seed=1, scale=255.0, transform=lambda b: b - 127.0)
    assert len(batches) == 3
    seen = []
    for i in range(len(batches)):
        xb, yb = batches[i]
        assert xb.shape == (len(yb), *x.shape[1:]) and xb.dtype == np.float32
        assert xb.min() >= -127 and xb.max() <= 128  # [0, 255] then the transform
        originals = x[yb].astype("float32") - 127.0  # labels still name their images
        assert np.abs(xb - originals).mean() > 1  # augmented
        seen += list(yb)
    assert sorted(seen) == list(range(40))
