"""Gram matrix, style, content and total-variation losses against numpy; filter activation."""

import numpy as np
import pytest
from keras import ops

from keraslab.vision.objectives import (
    content_loss,
    filter_activation,
    gram_matrix,
    style_loss,
    total_variation,
)

pytestmark = pytest.mark.backend


def test_gram_matrix_equals_numpy():
    f = np.random.default_rng(0).standard_normal((2, 5, 7, 4)).astype("float32")
    flat = f.reshape(2, 35, 4)
    expected = np.stack([m.T @ m / 35 for m in flat])
    np.testing.assert_allclose(ops.convert_to_numpy(gram_matrix(f)), expected, rtol=1e-5, atol=1e-5)


def test_style_loss_of_an_image_with_itself_is_zero_and_positive_otherwise():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((1, 6, 6, 3)).astype("float32")
    g = rng.standard_normal((1, 6, 6, 3)).astype("float32")
    assert float(style_loss(f, gram_matrix(f))) == 0.0
    expected = np.mean((f.reshape(36, 3).T @ f.reshape(36, 3) / 36
                        - g.reshape(36, 3).T @ g.reshape(36, 3) / 36) ** 2)  # fmt: skip
    assert float(style_loss(f, gram_matrix(g))) == pytest.approx(expected, rel=1e-4)
    assert float(content_loss(f, g)) == pytest.approx(np.mean((f - g) ** 2), rel=1e-5)


def test_total_variation_by_hand():
    x = np.zeros((1, 3, 3, 1), "float32")
    assert float(total_variation(x)) == 0.0
    x[0, 1, 1, 0] = 1.0  # a single bright pixel: 2 of 6 vertical and 2 of 6 horizontal steps
    assert float(total_variation(x)) == pytest.approx(2 / 6 + 2 / 6)


def test_filter_activation_reads_each_images_own_filter():
    f = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    got = ops.convert_to_numpy(filter_activation(f, [2, 0], border=1))
    np.testing.assert_allclose(got, [f[0, 1:3, 1:3, 2].mean(), f[1, 1:3, 1:3, 0].mean()])
