"""PhasedModel.evaluate() against hand computations, on the current backend (run once per backend):
each phase's loss in evaluation mode (batch-norm moving statistics, no dropout), means over the
data, no variable changed, and training unchanged by evaluating or by validation_data."""

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.engine import Phase, PhasedModel

pytestmark = pytest.mark.backend

RNG = np.random.default_rng(1)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")
W = RNG.uniform(0.5, 2.0, size=(8,)).astype("float32")
WA0 = RNG.normal(size=(3, 1)).astype("float32")
WB0 = RNG.normal(size=(3, 1)).astype("float32")
EPS = 1e-3  # BatchNormalization's default epsilon


def _np(x):
    return ops.convert_to_numpy(x)


class Regression(PhasedModel):
    """Phase a: y from x (metric: mean absolute error). Phase b: the output of a, through
    dropout and batch normalisation (which behave differently in training and evaluation)."""

    def __init__(self):
        super().__init__()
        self.a = keras.layers.Dense(1, use_bias=False)
        self.drop = keras.layers.Dropout(0.5, seed=3)
        self.norm = keras.layers.BatchNormalization()
        self.b = keras.layers.Dense(1, use_bias=False)
        for layer in (self.a, self.norm, self.b):
            layer.build((None, 3))
        self.a.kernel.assign(WA0)
        self.b.kernel.assign(WB0)
        self.built = True

    def loss_a(self, batch):
        err = self.a(batch.x) - batch.y
        return ops.mean(ops.square(err)), {"mae": ops.mean(ops.abs(err))}

    def loss_b(self, batch):
        h = self.norm(self.drop(batch.x, training=batch.training), training=batch.training)
        target = ops.stop_gradient(self.a(batch.x))
        return ops.mean(ops.square(self.b(h) - target))

    def phases(self):
        return [
            Phase(
                "a", self.a.trainable_variables, self.optimizers["a"], self.loss_a, metrics=("mae",)
            ),
            Phase(
                "b",
                self.b.trainable_variables + self.norm.trainable_variables,
                self.optimizers["b"],
                self.loss_b,
            ),
        ]


def _regression(train=True):
    model = Regression()
    model.compile(optimizers={"a": keras.optimizers.SGD(0.05), "b": keras.optimizers.Adam(0.01)})
    if train:  # weights, moving statistics and optimizer state away from their initial values
        model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return model


def _regression_by_hand(model):
    wa, wb = _np(model.a.kernel), _np(model.b.kernel)
    gamma, beta, mean, var = (_np(v) for v in model.norm.weights)  # Keras's order
    h = (X - mean) / np.sqrt(var + EPS) * gamma + beta  # moving statistics, no dropout
    err_a = X @ wa - Y
    return {
        "a_loss": np.mean(err_a**2),
        "mae": np.mean(np.abs(err_a)),
        "b_loss": np.mean((h @ wb - X @ wa) ** 2),
    }


def _all_values(model):
    variables = list(model.variables) + list(model.optimizer.variables)
    return [(v.path, _np(v).copy()) for v in variables]


@pytest.mark.parametrize("batch_size", [8, 3])
def test_evaluate_equals_hand_computed_means_in_inference_mode(batch_size):
    """Batches of 3, 3, 2: the means are over the 8 examples (batches weighted by size)."""
    model = _regression()
    got = model.evaluate(X, Y, batch_size=batch_size, return_dict=True, verbose=0)
    want = _regression_by_hand(model)
    assert set(got) == set(want)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=2e-5, err_msg=name)


def test_evaluate_changes_no_weight_and_no_optimizer_variable():
    model = _regression()
    before = _all_values(model)
    model.evaluate(X, Y, batch_size=3, verbose=0)
    after = _all_values(model)
    assert [p for p, _ in before] == [p for p, _ in after]
    for (path, a), (_, b) in zip(before, after):
        np.testing.assert_array_equal(a, b, err_msg=path)


class Batches(keras.utils.PyDataset):
    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size

    def __len__(self):
        return -(-len(X) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return X[rows], Y[rows]


def test_evaluate_a_py_dataset():
    model = _regression()
    got = model.evaluate(Batches(3), return_dict=True, verbose=0)
    for name, value in _regression_by_hand(model).items():
        np.testing.assert_allclose(got[name], value, rtol=2e-5, err_msg=name)


class WeightedFit(PhasedModel):
    """A loss averaged with sample weights, and the batch weight that makes evaluate() average
    the same way over the whole data set (as token-averaged language-model losses do)."""

    def __init__(self):
        super().__init__()
        self.a = keras.layers.Dense(1, use_bias=False)
        self.a.build((None, 3))
        self.a.kernel.assign(WA0)
        self.built = True

    def weighted_loss(self, batch):
        w = ops.reshape(ops.cast(batch.sample_weight, "float32"), (-1, 1))
        return ops.sum(w * ops.square(self.a(batch.x) - batch.y)) / ops.sum(w)

    def phases(self):
        return [
            Phase(
                "fit",
                self.a.trainable_variables,
                self.optimizers["fit"],
                self.weighted_loss,
                batch_weight=lambda batch: ops.sum(batch.sample_weight),
            )
        ]


def test_batch_weight_sets_how_batches_are_averaged():
    model = WeightedFit()
    model.compile(optimizers={"fit": keras.optimizers.SGD(0.1)})
    got = model.evaluate(X, Y, sample_weight=W, batch_size=3, return_dict=True, verbose=0)
    want = np.sum(W[:, None] * (X @ WA0 - Y) ** 2) / np.sum(W)
    np.testing.assert_allclose(got["fit_loss"], want, rtol=2e-5)


# ---- a two-phase GAN-like model: random latents inside the losses, batch-norm discriminator
LATENT = 2
G0 = RNG.normal(size=(LATENT, 3)).astype("float32")
D0 = RNG.normal(size=(3, 1)).astype("float32")


class TinyGAN(PhasedModel):
    def __init__(self, seed=7):
        super().__init__()
        self.generator = keras.layers.Dense(3, name="generator")
        self.norm = keras.layers.BatchNormalization(name="norm")
        self.critic = keras.layers.Dense(1, name="critic")
        self.generator.build((None, LATENT))
        self.norm.build((None, 3))
        self.critic.build((None, 3))
        self.generator.kernel.assign(G0)
        self.critic.kernel.assign(D0)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def discriminate(self, images, training):
        return self.critic(self.norm(images, training=training))

    def d_loss(self, batch):
        n = ops.shape(batch.x)[0]
        z = keras.random.normal((n, LATENT), seed=self.seed_generator)
        fake = ops.stop_gradient(self.generator(z))
        bce = keras.losses.binary_crossentropy
        real_logits = self.discriminate(batch.x, batch.training)
        fake_logits = self.discriminate(fake, batch.training)
        real = bce(ops.ones((n, 1)), real_logits, from_logits=True)
        fake = bce(ops.zeros((n, 1)), fake_logits, from_logits=True)
        return 0.5 * (ops.mean(real) + ops.mean(fake))

    def g_loss(self, batch):
        n = ops.shape(batch.x)[0]
        z = keras.random.normal((n, LATENT), seed=self.seed_generator)
        logits = self.discriminate(self.generator(z), batch.training)
        return ops.mean(
            keras.losses.binary_crossentropy(ops.ones((n, 1)), logits, from_logits=True)
        )

    def phases(self):
        d_vars = self.critic.trainable_variables + self.norm.trainable_variables
        return [
            Phase("d", d_vars, self.optimizers["d"], self.d_loss),
            Phase("g", self.generator.trainable_variables, self.optimizers["g"], self.g_loss),
        ]


def _gan():
    model = TinyGAN()
    model.compile(optimizers={"d": keras.optimizers.Adam(0.01), "g": keras.optimizers.Adam(0.01)})
    return model


def _bce_from_logits(label, logits):
    return np.maximum(logits, 0) - logits * label + np.log1p(np.exp(-np.abs(logits)))


def _gan_by_hand(model, batch_size):
    """Same draws: a fresh SeedGenerator at the model's state, drawn in the step's order."""
    seeds = keras.random.SeedGenerator(0)
    seeds.state.assign(model.seed_generator.state.value)
    gk, gb = _np(model.generator.kernel), _np(model.generator.bias)
    gamma, beta, mean, var = (_np(v) for v in model.norm.weights)
    dk, db = _np(model.critic.kernel), _np(model.critic.bias)

    def disc(images):
        return ((images - mean) / np.sqrt(var + EPS) * gamma + beta) @ dk + db

    d_sum = g_sum = 0.0
    for i in range(0, len(X), batch_size):
        real = X[i : i + batch_size]
        n = len(real)
        z_d = _np(keras.random.normal((n, LATENT), seed=seeds))
        z_g = _np(keras.random.normal((n, LATENT), seed=seeds))
        d = 0.5 * (
            np.mean(_bce_from_logits(1.0, disc(real)))
            + np.mean(_bce_from_logits(0.0, disc(z_d @ gk + gb)))
        )
        g = np.mean(_bce_from_logits(1.0, disc(z_g @ gk + gb)))
        d_sum, g_sum = d_sum + n * d, g_sum + n * g
    return {"d_loss": d_sum / len(X), "g_loss": g_sum / len(X)}


def test_two_phase_gan_evaluates_both_phases_and_restores_its_state():
    model = _gan()
    model.fit(X, batch_size=4, epochs=2, shuffle=False, verbose=0)
    before = _all_values(model)
    want = _gan_by_hand(model, 3)
    got = model.evaluate(X, batch_size=3, return_dict=True, verbose=0)
    assert set(got) == {"d_loss", "g_loss"}
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, err_msg=name)
    # Seed state and batch-norm statistics as before: the same numbers again, nothing changed.
    for (path, a), (_, b) in zip(before, _all_values(model)):
        np.testing.assert_array_equal(a, b, err_msg=path)
    again = model.evaluate(X, batch_size=3, return_dict=True, verbose=0)
    assert again == got


@pytest.mark.parametrize(
    "make", [_gan, lambda: _regression(train=False)], ids=["gan", "regression"]
)
def test_validation_and_evaluate_leave_training_unchanged(make):
    """fit with validation_data and evaluate() between epochs train exactly as fit alone: seed
    draws and batch-norm statistics are those of the plain run."""
    data = (X,) if make is _gan else (X, Y)
    plain, checked = make(), make()
    plain.fit(*data, batch_size=4, epochs=2, shuffle=False, verbose=0)
    checked.evaluate(*data, batch_size=3, verbose=0)
    hist = checked.fit(
        *data, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_data=data
    )
    assert any(k.startswith("val_") for k in hist.history)
    checked.evaluate(*data, batch_size=3, verbose=0)
    for (path, a), (_, b) in zip(_all_values(plain), _all_values(checked)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=path)
