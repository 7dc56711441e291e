"""Style transfer's optimisation on a small convnet: the loss falls by a large factor."""

import keras
import numpy as np
import pytest

from keraslab.errors import UserError
from keraslab.vision.style_transfer import StyleWeights, style_transfer

pytestmark = pytest.mark.backend


def _features(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(inputs)
    b = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="b")(a)
    return keras.Model(inputs, b)


def _images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    content = np.stack([yy, xx, 1 - yy], -1).astype("float32")  # smooth gradients
    stripes = (np.sin(xx * 25)[..., None] > 0) * np.array([0.9, 0.2, 0.1])
    style = (stripes + 0.05 * rng.standard_normal((32, 32, 3))).clip(0, 1).astype("float32")
    return content, style


def test_total_loss_falls_by_a_large_factor_and_the_image_takes_the_style():
    content, style = _images()
    weights = StyleWeights(content=1.0, style=100.0, tv=0.01, style_layers=("a", "b"),
                           content_layers=("b",))  # fmt: skip
    image, history = style_transfer(
        content, style, steps=60, weights=weights, network=_features(), learning_rate=0.05,
        log_every=10,
    )  # fmt: skip
    losses = history.history["image_loss"]
    assert losses[-1] < losses[0] / 5, losses
    assert history.history["style"][-1] < history.history["style"][0] / 5
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
    # it moved towards the style's red and away from the content's blue
    assert image[..., 0].mean() > content[..., 0].mean() - 0.1
    assert np.abs(image - content).mean() > 0.02


def test_style_of_the_content_itself_gives_zero_style_loss_at_the_start():
    content, _ = _images()
    weights = StyleWeights(style_layers=("a", "b"), content_layers=("b",))
    _, history = style_transfer(content, content, steps=1, weights=weights, network=_features())
    # one step from the content image: the content and style terms start (and stay near) 0
    assert history.history["style"][0] < 1e-6 and history.history["content"][0] < 1e-6


def test_unknown_layer_is_a_one_line_error_listing_layers():
    content, style = _images()
    with pytest.raises(UserError, match="no layer named 'zz'"):
        style_transfer(content, style, steps=1, network=_features(),
                       weights=StyleWeights(style_layers=("zz",), content_layers=("b",)))  # fmt: skip
