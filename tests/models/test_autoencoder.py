"""Autoencoders on the current backend (dense and conv, plain and denoising) and the noise that
feeds a denoising autoencoder (keraslab.data.noise)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.data import load_digits
from keraslab.data.noise import NoisyImages, add_noise
from keraslab.models import Autoencoder

pytestmark = pytest.mark.backend

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def digits():
    (x, _), (xt, _) = load_digits()
    return x, xt


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_autoencoder_trains_and_its_halves_work_alone(kind, digits):
    x, xt = digits
    keras.utils.set_random_seed(0)
    ae = Autoencoder(SHAPE, latent_dim=6, kind=kind)
    ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    hist = ae.fit(x, x, batch_size=64, epochs=4, verbose=0).history
    assert np.all(np.isfinite(hist["loss"]))
    assert hist["loss"][-1] < 0.9 * hist["loss"][0], hist["loss"]

    codes = ops.convert_to_numpy(ae.encoder(xt[:10]))
    assert codes.shape == (10, 6)
    np.testing.assert_allclose(ae.encode(xt[:10]), codes, rtol=1e-5, atol=1e-6)
    images = ops.convert_to_numpy(ae.decoder(codes))
    assert images.shape == (10, *SHAPE) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_allclose(images, ops.convert_to_numpy(ae(xt[:10])), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ae.decode(codes), images, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ae.reconstruct(xt[:10]), images, rtol=1e-5, atol=1e-6)
    # On held-out digits, reconstructions beat the mean training image.
    err = np.mean((ae.reconstruct(xt) - xt) ** 2)
    baseline = np.mean((x.mean(0) - xt) ** 2)
    assert err < 0.8 * baseline, (err, baseline)


def test_autoencoder_bad_input_and_config(digits):
    ae = Autoencoder(SHAPE, latent_dim=3, kind="dense")
    with pytest.raises(ValueError, match=r"\(10, 10, 1\)"):
        ae.encode(np.zeros((2, 10, 10, 1), "float32"))
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        ae.decode(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="kind"):
        Autoencoder(SHAPE, kind="recurrent")
    with pytest.raises(ValueError, match="multiples of 4"):
        Autoencoder((10, 10, 1), kind="conv")
    clone = Autoencoder.from_config(ae.get_config())
    assert (clone.kind, clone.latent_dim, clone.image_shape) == ("dense", 3, SHAPE)
    clone.set_weights(ae.get_weights())
    x, _ = digits
    np.testing.assert_allclose(clone.reconstruct(x[:4]), ae.reconstruct(x[:4]), atol=1e-6)


# ---------------------------------------------------------------- noise
def test_gaussian_noise_statistics():
    x = np.full((200, 8, 8, 1), 0.5, "float32")  # mid-gray: clipping at 0/1 is 10 sigma away
    noisy = add_noise(x, "gaussian", 0.05, np.random.default_rng(0))
    d = (noisy - x).astype("float64").ravel()
    n = d.size  # 12800
    assert noisy.shape == x.shape and noisy.dtype == np.float32
    assert abs(d.mean()) < 5 * 0.05 / np.sqrt(n)
    assert abs(d.std() - 0.05) < 5 * 0.05 / np.sqrt(2 * n)
    # Near the edges the values are clipped into [0, 1].
    edge = add_noise(np.zeros((50, 8, 8, 1)), "gaussian", 0.3, np.random.default_rng(1))
    assert edge.min() == 0.0 and edge.max() <= 1.0
    assert 0.4 < np.mean(edge == 0.0) < 0.6  # about half the draws fall below 0


def test_masking_noise_statistics():
    x = np.ones((200, 8, 8, 1), "float32")
    amount = 0.3
    noisy = add_noise(x, "masking", amount, np.random.default_rng(0))
    assert set(np.unique(noisy)) <= {0.0, 1.0}
    frac = np.mean(noisy == 0.0)
    assert abs(frac - amount) < 5 * np.sqrt(amount * (1 - amount) / x.size)
    # Masked pixels are set to 0; the others keep their value.
    grey = np.random.default_rng(2).random((20, 8, 8, 1)).astype("float32")
    out = add_noise(grey, "masking", 0.5, np.random.default_rng(3))
    kept = out != 0
    np.testing.assert_array_equal(out[kept], grey[kept])
    np.testing.assert_array_equal(add_noise(grey, "none", 0.9, np.random.default_rng(0)), grey)


@pytest.mark.parametrize(
    "kind, amount, match",
    [
        ("salt", 0.1, "noise must be one of"),
        ("gaussian", -0.1, "amount >= 0"),
        ("masking", 1.0, r"\[0, 1\)"),
        ("masking", -0.2, r"\[0, 1\)"),
    ],
)
def test_add_noise_rejects_bad_kinds_and_amounts(kind, amount, match):
    x = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match=match):
        add_noise(x, kind, amount, np.random.default_rng(0))
    with pytest.raises(ValueError, match=match):
        NoisyImages(x, 2, kind, amount)


def test_noisy_images_pairs_and_reshuffling():
    n = 50
    # Image i is the constant (i + 1) / 64: its identity is readable from any pixel.
    x = np.broadcast_to(((np.arange(n) + 1) / 64.0)[:, None, None, None], (n, 8, 8, 1)).copy()
    ds = NoisyImages(x, 16, "masking", 0.25, seed=0)
    assert len(ds) == 4  # ceil(50 / 16)

    def epoch():
        noisy, clean = zip(*(ds[i] for i in range(len(ds))))
        return np.concatenate(noisy), np.concatenate(clean)

    noisy, clean = epoch()
    assert [len(b) for b in (ds[i][0] for i in range(4))] == [16, 16, 16, 2]
    ids = np.rint(clean[:, 0, 0, 0] * 64).astype(int) - 1
    assert sorted(ids) == list(range(n))  # every image exactly once
    np.testing.assert_array_equal(clean, x[ids])  # clean targets are the source images
    assert not np.array_equal(ids, np.arange(n))  # shuffled
    kept = noisy != 0
    np.testing.assert_array_equal(noisy[kept], clean[kept])  # noisy = masked clean
    assert 0.15 < 1 - kept.mean() < 0.35

    ds.on_epoch_end()
    noisy2, clean2 = epoch()
    ids2 = np.rint(clean2[:, 0, 0, 0] * 64).astype(int) - 1
    assert sorted(ids2) == list(range(n))
    assert not np.array_equal(ids2, ids)  # reshuffled
    # Fresh noise: the same image gets a different mask in the next epoch.
    mask1, mask2 = np.empty_like(noisy, bool), np.empty_like(noisy, bool)
    mask1[ids], mask2[ids2] = noisy != 0, noisy2 != 0
    assert not np.array_equal(mask1, mask2)


def test_denoising_autoencoder_learns_to_denoise(digits):
    x, xt = digits
    keras.utils.set_random_seed(1)
    ae = Autoencoder(SHAPE, latent_dim=12, kind="dense")
    ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    data = NoisyImages(x, 128, "masking", 0.5, seed=0)
    order = data.order.copy()
    hist = ae.fit(data, epochs=5, verbose=0).history
    assert not np.array_equal(data.order, order)  # fit reshuffled between epochs
    assert hist["loss"][-1] < 0.7 * hist["loss"][0], hist["loss"]
    # On held-out digits, the output is closer to the clean image than the noisy input was.
    noisy = add_noise(xt, "masking", 0.5, np.random.default_rng(5))
    out = ops.convert_to_numpy(ae(noisy))
    assert np.mean((out - xt) ** 2) < 0.7 * np.mean((noisy - xt) ** 2)
