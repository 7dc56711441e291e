"""DCGAN on the current backend: builds, trains on digits, round-trips, and works in a user's fit()."""

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.data import load_digits
from keraslab.models import DCGAN, build_discriminator, build_generator
from keraslab.presets import GAN_ARCHITECTURES as ARCHITECTURES
from keraslab.runs.callbacks import ImageGrid

pytestmark = pytest.mark.backend


@pytest.fixture(scope="module")
def digits():
    (x, _), _ = load_digits()
    return x


def test_lecture_architecture_shapes():
    g = build_generator(64, (28, 28, 1))
    d = build_discriminator((28, 28, 1))
    assert tuple(g.output.shape) == (None, 28, 28, 1)
    assert tuple(d.output.shape) == (None, 1)
    kinds = [type(layer).__name__ for layer in g.layers]
    assert kinds.count("Conv2DTranspose") == 3 and kinds.count("LeakyReLU") == 3
    assert g.get_layer("project").units == 7 * 7 * 8
    assert [g.get_layer(f"deconv{i}").filters for i in (1, 2, 3)] == [64, 128, 128]
    assert [g.get_layer(f"deconv{i}").strides for i in (1, 2, 3)] == [(2, 2), (2, 2), (1, 1)]
    assert [d.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [32, 64, 64]
    assert d.get_layer("logit").activation.__name__ == "linear"  # logits, not sigmoid
    # Fashion-MNIST-sized and other sizes work; bad sizes say why.
    assert tuple(build_generator(16, (8, 8, 3)).output.shape) == (None, 8, 8, 3)
    with pytest.raises(ValueError, match="multiples of 4"):
        build_generator(16, (10, 10, 1))


def _layers(model):
    """(kind, settings) per layer, the settings a reader of the notes would compare."""
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        c = layer.get_config()
        if kind in ("Conv2D", "Conv2DTranspose"):
            act = c.get("activation", "linear")
            out.append((kind, c["filters"], tuple(c["kernel_size"]), tuple(c["strides"]), act,
                        c["use_bias"]))  # fmt: skip
        elif kind == "Dense":
            out.append((kind, c["units"], c["activation"], c["use_bias"]))
        elif kind == "LeakyReLU":
            out.append((kind, round(float(c["negative_slope"]), 3)))
        elif kind == "Dropout":
            out.append((kind, c["rate"]))
        elif kind == "BatchNormalization":
            out.append((kind, round(c["momentum"], 3), c["epsilon"]))
        elif kind == "Activation":
            out.append((kind, c["activation"]))
        else:
            out.append((kind,))
    return out


def test_lecture_preset_is_the_course_notes_layer_by_layer():
    """The notes' generator_v2 / discriminator_v2: Dense(7*7*8) -> Reshape -> three 4x4
    transposed convolutions (64, 128, 128; strides 2, 2, 1), LeakyReLU(0.2) after each, 5x5
    sigmoid convolution; discriminator 4x4 convolutions 32, 64, 64 (strides 2, 2, 1) with
    LeakyReLU(0.2), Flatten, Dropout(0.2), Dense(1)."""
    gan = DCGAN(arch="lecture")
    lrelu = ("LeakyReLU", 0.2)
    assert _layers(gan.generator) == [
        ("Dense", 7 * 7 * 8, "linear", True),
        ("Reshape",),
        ("Conv2DTranspose", 64, (4, 4), (2, 2), "linear", True), lrelu,
        ("Conv2DTranspose", 128, (4, 4), (2, 2), "linear", True), lrelu,
        ("Conv2DTranspose", 128, (4, 4), (1, 1), "linear", True), lrelu,
        ("Conv2D", 1, (5, 5), (1, 1), "sigmoid", True),
    ]  # fmt: skip
    assert _layers(gan.discriminator) == [
        ("Conv2D", 32, (4, 4), (2, 2), "linear", True), lrelu,
        ("Conv2D", 64, (4, 4), (2, 2), "linear", True), lrelu,
        ("Conv2D", 64, (4, 4), (1, 1), "linear", True), lrelu,
        ("Flatten",), ("Dropout", 0.2), ("Dense", 1, "linear", True),
    ]  # fmt: skip


def test_default_preset_is_what_the_readme_says():
    """README: Dense to 7x7x128, BatchNorm, ReLU; 4x4 stride-2 transposed convolutions to 64 and
    32 channels, each with BatchNorm and ReLU; a 3x3 sigmoid convolution. Discriminator: 4x4
    stride-2 convolutions 64 and 128, LeakyReLU(0.2), BatchNorm on the second, Dense(1) logit."""
    gan = DCGAN()
    assert gan.arch == "dcgan" and set(ARCHITECTURES) == {"dcgan", "lecture"}
    bn = ("BatchNormalization", 0.9, 1e-5)
    assert _layers(gan.generator) == [
        ("Dense", 7 * 7 * 128, "linear", False), bn, ("ReLU",),
        ("Reshape",),
        ("Conv2DTranspose", 64, (4, 4), (2, 2), "linear", False), bn, ("ReLU",),
        ("Conv2DTranspose", 32, (4, 4), (2, 2), "linear", False), bn, ("ReLU",),
        ("Conv2D", 1, (3, 3), (1, 1), "sigmoid", True),
    ]  # fmt: skip
    assert _layers(gan.discriminator) == [
        ("Conv2D", 64, (4, 4), (2, 2), "linear", True), ("LeakyReLU", 0.2),
        ("Conv2D", 128, (4, 4), (2, 2), "linear", False), bn, ("LeakyReLU", 0.2),
        ("Flatten",), ("Dense", 1, "linear", True),
    ]  # fmt: skip
    # conditional variants keep the same trunk and add the label inputs
    cgan = DCGAN(num_classes=10)
    assert len(cgan.generator.inputs) == 2 and len(cgan.discriminator.inputs) == 2
    with pytest.raises(ValueError, match="dcgan, lecture"):
        DCGAN(arch="resnet")


def test_batchnorm_discriminator_sees_real_and_fake_batches_separately():
    """With batch norm, one concatenated batch would normalise real and fake images together;
    the loss calls the discriminator once per kind: the result equals a hand computation with
    two separate calls."""
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=4, seed=3, label_noise=0.0)
    gan.compile()
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    from keraslab.engine import Batch

    state = ops.convert_to_numpy(gan.seed_generator.state)
    loss = float(ops.convert_to_numpy(gan.discriminator_loss(Batch(x))))
    gan.seed_generator.state.assign(state)  # replay the same random draws
    fake = gan.generator(gan._latents(6), training=True)
    keras.random.uniform((12, 1), seed=gan.seed_generator)  # the label-noise draw
    d = gan.discriminator
    f_logit = ops.convert_to_numpy(d(fake, training=True)).ravel()
    r_logit = ops.convert_to_numpy(d(x, training=True)).ravel()

    def bce(t, z):  # binary cross-entropy on logits, by hand
        return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))

    expected = 0.5 * (bce(1.0, f_logit) + bce(0.0, r_logit))
    assert loss == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_dcgan_trains_two_epochs_on_digits(digits, tmp_path):
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=16, seed=1)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    z = np.random.default_rng(0).standard_normal((8, 16)).astype("float32")
    before = gan.generate(z)
    grid = ImageGrid(tmp_path / "samples", n=16)
    hist = gan.fit(digits, batch_size=64, epochs=2, verbose=0, callbacks=[grid])
    after = gan.generate(z)
    for key in ("d_loss", "g_loss"):
        assert len(hist.history[key]) == 2 and np.all(np.isfinite(hist.history[key]))
    assert np.abs(after - before).mean() > 1e-3  # the generator changed
    assert (tmp_path / "samples" / "epoch_001.png").is_file()
    assert (tmp_path / "samples" / "epoch_002.png").is_file()
    assert after.shape == (8, 8, 8, 1) and after.min() >= 0 and after.max() <= 1


def test_discriminator_learns_when_generator_frozen(digits):
    """The d phase reduces its loss: with the generator's learning rate at 0, d_loss falls."""
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=16, seed=2)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-3), g_optimizer=keras.optimizers.SGD(0.0))
    hist = gan.fit(digits, batch_size=64, epochs=3, verbose=0)
    assert hist.history["d_loss"][-1] < 0.8 * hist.history["d_loss"][0]


def test_weights_round_trip(tmp_path, digits):
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=16, seed=3)
    gan.compile()
    gan.fit(digits[:128], batch_size=64, epochs=1, verbose=0)
    path = tmp_path / "gan.weights.h5"
    gan.save_weights(path)
    other = DCGAN(image_shape=(8, 8, 1), latent_dim=16)
    other.load_weights(path)
    z = np.random.default_rng(0).standard_normal((4, 16)).astype("float32")
    np.testing.assert_allclose(other.generate(z), gan.generate(z), atol=1e-6)
    cfg = gan.get_config()
    clone = DCGAN.from_config(cfg)
    assert clone.latent_dim == 16 and clone.image_shape == (8, 8, 1)


def test_generate_rejects_wrong_latent_size():
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=16)
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        gan.generate(np.zeros((2, 5), "float32"))


def test_generator_output_is_detached_in_d_phase(digits):
    """Only discriminator variables change in the d phase: with g's lr 0, g weights stay put."""
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=16, seed=4)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.SGD(0.0))
    w0 = [ops.convert_to_numpy(v).copy() for v in gan.generator.trainable_variables]
    gan.fit(digits[:128], batch_size=64, epochs=1, verbose=0)
    for v, w in zip(gan.generator.trainable_variables, w0):
        np.testing.assert_array_equal(ops.convert_to_numpy(v), w)


def test_label_noise_keeps_the_discriminator_loss_bounded():
    """A perfect discriminator (logit +100 on generated, -100 on real) must still pay for the
    label noise: targets stay inside [0, 1], so the expected loss is 100 * 0.05 * E[U] = 2.5.
    Adding +noise to the 1-labels (targets above 1) would pay it ~0 and reward infinite logits."""
    from keraslab.engine import Batch

    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=4, seed=0)
    to_image = gan.generator.get_layer("to_image")
    kernel, bias = to_image.get_weights()
    to_image.set_weights([np.zeros_like(kernel), np.full_like(bias, -1e3)])  # black images
    x_in = keras.Input((8, 8, 1))
    logit = keras.layers.Lambda(lambda t: 200.0 * (0.5 - ops.mean(t, axis=(1, 2, 3))[:, None]))(
        x_in
    )
    gan.discriminator = keras.Model(x_in, logit)
    real = np.ones((256, 8, 8, 1), "float32")  # white images
    loss = float(ops.convert_to_numpy(gan.discriminator_loss(Batch(real))))
    assert 2.0 < loss < 3.0, loss


def test_conditional_dcgan_trains_and_uses_the_label():
    """DCGAN(num_classes=10) trains on (images, labels); the label changes what is generated."""
    (x, y), _ = load_digits()
    keras.utils.set_random_seed(5)
    gan = DCGAN(
        image_shape=(8, 8, 1),
        latent_dim=16,
        generator=build_generator(
            16, (8, 8, 1), base_channels=8, widths=(16, 16, 16), num_classes=10
        ),
        discriminator=build_discriminator((8, 8, 1), widths=(16, 16, 16), num_classes=10),
        num_classes=10,
        seed=5,
    )
    assert gan.conditional
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    z = np.random.default_rng(0).standard_normal((6, 16)).astype("float32")
    before = gan.generate(z, labels=[3] * 6)
    hist = gan.fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0).history
    assert np.all(np.isfinite(hist["d_loss"])) and np.all(np.isfinite(hist["g_loss"]))
    threes = gan.generate(z, labels=[3] * 6)
    assert np.abs(threes - before).mean() > 1e-4  # training moved the generator
    sample = gan.sample(6, seed=0, label=3)
    assert sample.shape == (6, 8, 8, 1) and sample.min() >= 0 and sample.max() <= 1
    np.testing.assert_allclose(sample, threes, atol=1e-6)  # same latents (seed 0), same class
    sevens = gan.generate(z, labels=[7] * 6)
    assert np.abs(sevens - threes).max() > 1e-3  # same z, another label: other images
    # Default labels cycle through the classes.
    np.testing.assert_allclose(gan.generate(z), gan.generate(z, labels=np.arange(6)), atol=1e-6)
    with pytest.raises(ValueError, match="0..9"):
        gan.generate(z, labels=[10] * 6)
    with pytest.raises(ValueError, match="labels"):
        gan.fit(x[:128], batch_size=128, epochs=1, verbose=0)  # no labels
