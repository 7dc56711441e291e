"""Filter and class visualisation by gradient ascent, and saliency, on small models."""

import keras
import numpy as np
import pytest

from keraslab.errors import UserError
from keraslab.vision.filters import (
    feature_network,
    saliency,
    visualize_class,
    visualize_filters,
)

pytestmark = pytest.mark.backend


def _small_convnet(seed=0, channels=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((24, 24, channels))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))


def test_gradient_ascent_raises_the_filters_activation_at_every_logged_step():
    model = _small_convnet()
    images, history = visualize_filters(
        model, "conv2", filters=[0, 3, 5], steps=40, log_every=5, jitter=0, border=0, seed=1
    )
    scores = history.history["score"]
    assert len(scores) == 8
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    assert images.shape == (3, 24, 24, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # the image made for filter j excites filter j more than the images made for the others
    net, _ = feature_network(model, "conv2")
    act = keras.ops.convert_to_numpy(net(images)).mean(axis=(1, 2))[:, [0, 3, 5]]
    assert list(act.argmax(axis=0)) == [0, 1, 2], act


def test_normalized_ascent_and_class_visualization_raise_their_scores():
    model = _small_convnet(seed=2)
    _, history = visualize_filters(
        model, "conv1", n=2, steps=20, log_every=5, optimizer="normalized", learning_rate=0.2,
        decorrelate=False, jitter=0,
    )  # fmt: skip
    scores = history.history["score"]
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    images, history = visualize_class(model, 2, steps=20, log_every=5, jitter=0)
    scores = history.history["score"]
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    assert images.shape == (1, 24, 24, 3)


def test_grayscale_network_is_drawn_in_rgb_and_nested_networks_are_found():
    inner = _small_convnet(channels=1)
    outer = keras.Sequential([keras.Input((24, 24, 1)), inner])
    images, _ = visualize_filters(outer, "conv1", n=2, steps=3)
    # the feature map's border that the objective ignores (24 // 8 = 3 positions) is cut off
    assert images.shape == (2, 18, 18, 3)


def test_saliency_equals_a_finite_difference_estimate():
    model = _small_convnet(seed=3)
    x = np.random.default_rng(0).uniform(0, 1, (2, 24, 24, 3)).astype("float32")
    maps, classes, grads = saliency(model, x, class_index=1)
    assert maps.shape == (2, 24, 24) and list(classes) == [1, 1]
    eps = 1e-2
    rng = np.random.default_rng(1)
    for _ in range(6):
        i, r, c, ch = rng.integers(2), rng.integers(24), rng.integers(24), rng.integers(3)
        up, down = x.copy(), x.copy()
        up[i, r, c, ch] += eps
        down[i, r, c, ch] -= eps
        fd = (model.predict(up, verbose=0)[i, 1] - model.predict(down, verbose=0)[i, 1]) / (2 * eps)
        assert grads[i, r, c, ch] == pytest.approx(fd, rel=0.05, abs=1e-4)
    np.testing.assert_allclose(maps, np.abs(grads).max(axis=-1))


def test_bad_layers_are_one_line_errors_naming_the_valid_ones():
    model = _small_convnet()
    with pytest.raises(UserError, match="no layer named 'conv9'.*conv1, conv2"):
        visualize_filters(model, "conv9")
    with pytest.raises(UserError, match="Dense layer, not a convolution"):
        visualize_filters(model, "logits")
    with pytest.raises(UserError, match="filters 0..7"):
        visualize_filters(model, "conv1", filters=[8])


@pytest.mark.parametrize("parameterization", ["pixel", "fourier"])
def test_parameterizations_start_at_the_given_images(parameterization):
    from keraslab.vision.optimize import ImageOptimization

    init = np.random.default_rng(0).uniform(0.1, 0.9, (2, 16, 20, 3)).astype("float32")
    opt = ImageOptimization(_small_convnet(), None, init, decorrelate=True,
                            parameterization=parameterization)  # fmt: skip
    np.testing.assert_allclose(opt.images(), init, atol=1e-5)
