"""WGAN-GP on the current backend: the gradient penalty against finite differences and a
closed form, differentiation through it in the engine's train step, training on digits, the
critic/generator step ratio, the conditional model and its errors, and config round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.data import load_digits
from keraslab.engine import Phase, PhasedModel
from keraslab.models import WGANGP, build_critic, build_generator, gradient_penalty

pytestmark = pytest.mark.backend

SHAPE = (8, 8, 1)
LATENT = 8


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = load_digits()
    return x, y


def small_wgan(num_classes=None, n_critic=2, seed=0, **kwargs):
    generator = build_generator(
        LATENT, SHAPE, base_channels=16, widths=(16, 16, 8), num_classes=num_classes
    )
    critic = build_critic(SHAPE, widths=(16, 32), num_classes=num_classes)
    return WGANGP(
        SHAPE,
        LATENT,
        generator=generator,
        critic=critic,
        n_critic=n_critic,
        num_classes=num_classes,
        seed=seed,
        **kwargs,
    )


def _t(a):
    return ops.convert_to_tensor(np.asarray(a, "float32"))


def _penalty_from_gradients(g):
    """The WGAN-GP formula in float64: mean over examples of (||g_i||_2 - 1)^2."""
    norms = np.sqrt(np.sum(np.asarray(g, "float64").reshape(len(g), -1) ** 2, axis=1))
    return np.mean((norms - 1.0) ** 2)


def _interpolates(n, shape, seed):
    rng = np.random.default_rng(seed)
    real = rng.random((n, *shape)).astype("float32")
    fake = rng.random((n, *shape)).astype("float32")
    alpha = rng.random((n, 1, 1, 1)).astype("float32")
    x_hat = alpha.astype("float64") * real + (1.0 - alpha.astype("float64")) * fake
    return real, fake, alpha, x_hat


# ---------------------------------------------------------------- the penalty itself
def test_gradient_penalty_matches_finite_differences_dense_critic():
    """Critic f(x) = v . tanh(W flat(x) + b) + c, evaluated independently in float64 numpy;
    its input gradient by central differences, then the penalty formula."""
    shape = (4, 4, 1)
    critic = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    rng = np.random.default_rng(0)  # fixed weights, the same on every backend
    w1, b1 = rng.normal(0, 0.6, (16, 8)), rng.normal(0, 0.5, 8)
    w2, b2 = rng.normal(0, 1.0, (8, 1)), rng.normal(0, 0.5, 1)
    critic.set_weights([w.astype("float32") for w in (w1, b1, w2, b2)])
    w1, b1, w2, b2 = (np.asarray(w, "float64") for w in critic.get_weights())

    def f64(x):  # (n, 4, 4, 1) -> (n,)
        return (np.tanh(x.reshape(len(x), -1) @ w1 + b1) @ w2 + b2)[:, 0]

    real, fake, alpha, x_hat = _interpolates(5, shape, seed=1)
    np.testing.assert_allclose(  # the numpy critic is the Keras critic
        f64(x_hat), ops.convert_to_numpy(critic(_t(x_hat)))[:, 0], rtol=1e-4, atol=1e-5
    )
    eps = 1e-3
    g = np.zeros_like(x_hat)
    for j in range(int(np.prod(shape))):
        d = np.zeros(int(np.prod(shape)))
        d[j] = eps
        d = d.reshape(shape)
        g.reshape(len(g), -1)[:, j] = (f64(x_hat + d) - f64(x_hat - d)) / (2 * eps)
    expected = _penalty_from_gradients(g)
    got = float(ops.convert_to_numpy(gradient_penalty(critic, _t(real), _t(fake), _t(alpha))))
    assert expected > 0.1  # a non-trivial penalty
    np.testing.assert_allclose(got, expected, rtol=1e-2)


def test_gradient_penalty_matches_finite_differences_conv_critic():
    """The default conv critic (LeakyReLU, piecewise linear): central differences of the
    critic's own float32 outputs with a step where rounding is small against the slope."""
    keras.utils.set_random_seed(1)
    shape = (4, 4, 1)
    critic = build_critic(shape, widths=(4,), kernel_size=3)

    def f(x):
        return ops.convert_to_numpy(critic(_t(x)))[:, 0].astype("float64")

    real, fake, alpha, x_hat = _interpolates(4, shape, seed=2)
    eps = 1e-2
    g = np.zeros_like(x_hat)
    for j in range(int(np.prod(shape))):
        d = np.zeros(int(np.prod(shape)))
        d[j] = eps
        d = d.reshape(shape)
        g.reshape(len(g), -1)[:, j] = (f(x_hat + d) - f(x_hat - d)) / (2 * eps)
    expected = _penalty_from_gradients(g)
    got = float(ops.convert_to_numpy(gradient_penalty(critic, _t(real), _t(fake), _t(alpha))))
    assert expected > 1e-2  # a non-trivial penalty
    np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-4)


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    """f(x) = w . x: the input gradient is w everywhere, so GP = (||w|| - 1)^2 for any inputs."""
    w = np.random.default_rng(3).normal(size=(16, 1))
    w *= 2.5 / np.linalg.norm(w)
    critic = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)]
    )
    critic.set_weights([w.astype("float32")])
    real, fake, alpha, _ = _interpolates(6, (4, 4, 1), seed=4)
    got = float(ops.convert_to_numpy(gradient_penalty(critic, _t(real), _t(fake), _t(alpha))))
    np.testing.assert_allclose(got, (2.5 - 1.0) ** 2, rtol=1e-5)


class _PenaltyOnly(PhasedModel):
    """One phase whose loss is only the gradient penalty of ``critic`` at the batch images."""

    def __init__(self, critic, **kwargs):
        super().__init__(**kwargs)
        self.critic = critic
        self.built = True

    def call(self, x, training=False):
        return self.critic(x, training=training)

    def phases(self):
        return [Phase("gp", self.critic.trainable_variables, self.optimizers["gp"], self.gp)]

    def gp(self, batch):
        x = ops.cast(batch.x, "float32")
        alpha = ops.ones((ops.shape(x)[0], 1, 1, 1))
        return gradient_penalty(self.critic, x, x, alpha)


def test_train_step_differentiates_through_the_penalty():
    """For f(x) = w . x the penalty (||w|| - 1)^2 depends on w only through the input gradient;
    one SGD step must give w - lr * 2 (||w|| - 1) w / ||w|| (needs a second-order graph)."""
    w = np.random.default_rng(5).normal(size=(16, 1))
    w *= 3.0 / np.linalg.norm(w)
    critic = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)]
    )
    critic.set_weights([w.astype("float32")])
    model = _PenaltyOnly(critic)
    lr = 0.1
    model.compile(optimizers={"gp": keras.optimizers.SGD(lr)})
    x = np.random.default_rng(6).random((8, 4, 4, 1)).astype("float32")
    hist = model.fit(x, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_allclose(hist.history["gp_loss"][0], (3.0 - 1.0) ** 2, rtol=1e-5)
    expected = w - lr * 2.0 * (3.0 - 1.0) * w / 3.0
    np.testing.assert_allclose(critic.get_weights()[0], expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- training
def test_wgan_gp_trains_on_digits(digits):
    x, _ = digits
    keras.utils.set_random_seed(0)
    gan = small_wgan(n_critic=2, seed=0)
    gan.compile(
        critic_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
    )
    z = np.random.default_rng(0).standard_normal((8, LATENT)).astype("float32")
    before = gan.generate(z)
    hist = gan.fit(x[:768], batch_size=128, epochs=2, verbose=0).history  # 6 batches an epoch
    after = gan.generate(z)
    for key in ("critic_loss", "g_loss", "gp", "w_distance"):
        assert len(hist[key]) == 2 and np.all(np.isfinite(hist[key])), (key, hist[key])
    assert np.all(np.asarray(hist["gp"]) >= 0)
    assert hist["critic_loss"][1] < hist["critic_loss"][0], hist
    assert np.abs(after - before).mean() > 1e-3  # the generator changed
    assert after.shape == (8, *SHAPE) and after.min() >= 0 and after.max() <= 1
    # n_critic critic updates per generator update.
    critic_steps = int(ops.convert_to_numpy(gan.optimizers["critic"].iterations))
    g_steps = int(ops.convert_to_numpy(gan.optimizers["g"].iterations))
    assert (critic_steps, g_steps) == (2 * 12, 12)


def test_critic_learns_and_generator_is_detached_when_generator_frozen(digits):
    """With the generator's learning rate at 0 the generator stays put (the critic phase does
    not update it) and the critic separates real from generated: w_distance grows above 0."""
    x, _ = digits
    keras.utils.set_random_seed(1)
    gan = small_wgan(n_critic=2, seed=1)
    gan.compile(
        critic_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5, beta_2=0.9),
        g_optimizer=keras.optimizers.SGD(0.0),
    )
    g0 = [w.copy() for w in gan.generator.get_weights()]
    hist = gan.fit(x[:768], batch_size=128, epochs=2, verbose=0).history
    for a, b in zip(gan.generator.get_weights(), g0):
        np.testing.assert_array_equal(a, b)
    assert hist["w_distance"][1] > hist["w_distance"][0], hist
    assert hist["w_distance"][1] > 0.3, hist
    assert int(ops.convert_to_numpy(gan.optimizers["critic"].iterations)) == 2 * 12


def test_phases_update_the_right_networks():
    gan = small_wgan(n_critic=4, gp_weight=3.0)
    gan.compile()
    critic, g = gan.phases()
    assert (critic.name, critic.repeats, g.name, g.repeats) == ("critic", 4, "g", 1)
    assert {id(v) for v in critic.variables} == {id(v) for v in gan.critic.trainable_variables}
    assert {id(v) for v in g.variables} == {id(v) for v in gan.generator.trainable_variables}
    assert critic.optimizer is gan.optimizers["critic"] and g.optimizer is gan.optimizers["g"]


# ---------------------------------------------------------------- conditional model
def test_conditional_wgan_gp(digits):
    x, y = digits
    gan = small_wgan(num_classes=10, n_critic=1, seed=3)
    gan.compile()
    hist = gan.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0).history
    assert np.all(np.isfinite(hist["critic_loss"])) and np.all(np.isfinite(hist["g_loss"]))
    sevens = gan.sample(5, label=7)
    assert sevens.shape == (5, *SHAPE) and sevens.min() >= 0 and sevens.max() <= 1
    # The label reaches the generator: same latents, different classes, different images.
    z = np.random.default_rng(0).standard_normal((4, LATENT)).astype("float32")
    a = gan.generate(z, labels=[1, 1, 1, 1])
    b = gan.generate(z, labels=[8, 8, 8, 8])
    assert np.abs(a - b).max() > 1e-4
    np.testing.assert_allclose(gan.generate(z, labels=[1, 1, 1, 1]), a, atol=1e-6)
    with pytest.raises(ValueError, match="0..9"):
        gan.generate(z, labels=[0, 1, 2, 10])
    with pytest.raises(ValueError, match="0..9"):
        gan.generate(z, labels=[0, -1, 2, 3])
    with pytest.raises(ValueError, match="0..9"):
        gan.generate(z, labels=[0, 1])  # wrong count
    with pytest.raises(ValueError, match=r"\(image"):
        gan.fit(x[:128], batch_size=128, epochs=1, verbose=0)  # no labels


def test_unconditional_model_rejects_labels():
    gan = small_wgan()
    z = np.zeros((2, LATENT), "float32")
    with pytest.raises(ValueError, match="not class-conditional"):
        gan.generate(z, labels=[0, 1])
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        gan.generate(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="n_critic"):
        small_wgan(n_critic=0)
    with pytest.raises(ValueError, match="conditional"):
        WGANGP(
            SHAPE,
            LATENT,
            generator=build_generator(LATENT, SHAPE, base_channels=4, widths=(4, 4, 4)),
            critic=build_critic(SHAPE, widths=(4,), num_classes=10),
            num_classes=10,
        )


# ---------------------------------------------------------------- serialisation
@pytest.mark.parametrize("num_classes", [None, 10])
def test_config_round_trip_generates_the_same_images(num_classes):
    gan = small_wgan(num_classes=num_classes, n_critic=3, gp_weight=5.0, seed=4)
    clone = WGANGP.from_config(gan.get_config())
    assert (clone.n_critic, clone.gp_weight, clone.num_classes) == (3, 5.0, num_classes)
    assert clone.latent_dim == LATENT and clone.image_shape == SHAPE
    assert clone.critic.count_params() == gan.critic.count_params()
    z = np.random.default_rng(1).standard_normal((6, LATENT)).astype("float32")
    assert not np.allclose(clone.generate(z), gan.generate(z))  # fresh weights differ
    clone.set_weights(gan.get_weights())
    np.testing.assert_allclose(clone.generate(z), gan.generate(z), atol=1e-6)


def test_keras_file_round_trip(tmp_path, digits):
    gan = small_wgan(n_critic=1, seed=5)
    gan.compile()
    gan.fit(digits[0][:128], batch_size=64, epochs=1, verbose=0)  # two updates of each phase
    path = tmp_path / "wgan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, WGANGP) and loaded.n_critic == 1
    # compile config and both optimizers' state come back with the file
    for phase in ("critic", "g"):
        assert int(loaded.optimizers[phase].iterations) == 2
        for a, b in zip(loaded.optimizers[phase].variables, gan.optimizers[phase].variables):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    z = np.random.default_rng(2).standard_normal((4, LATENT)).astype("float32")
    np.testing.assert_allclose(loaded.generate(z), gan.generate(z), atol=1e-6)
