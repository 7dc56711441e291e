"""The phase engine against hand-computed updates, on the current backend (run once per backend)."""

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.engine import Phase, PhasedModel, grad

pytestmark = pytest.mark.backend

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")
WA0 = RNG.normal(size=(3, 1)).astype("float32")
WB0 = RNG.normal(size=(3, 1)).astype("float32")


class TwoPhase(PhasedModel):
    """Phase a fits y; phase b (repeated) fits the output of a as it is after a's update."""

    def __init__(self, repeats_b=2):
        super().__init__()
        self.a = keras.layers.Dense(1, use_bias=False)
        self.b = keras.layers.Dense(1, use_bias=False)
        self.a.build((None, 3))
        self.b.build((None, 3))
        self.a.kernel.assign(WA0)
        self.b.kernel.assign(WB0)
        self.repeats_b = repeats_b
        self.built = True

    def call(self, x):
        return self.b(x)

    def loss_a(self, batch):
        return ops.mean(ops.square(self.a(batch.x) - batch.y))

    def loss_b(self, batch):
        target = ops.stop_gradient(self.a(batch.x))
        return ops.mean(ops.square(self.b(batch.x) - target))

    def phases(self):
        return [
            Phase("a", self.a.trainable_variables, self.optimizers["a"], self.loss_a),
            Phase(
                "b",
                self.b.trainable_variables,
                self.optimizers["b"],
                self.loss_b,
                repeats=self.repeats_b,
            ),
        ]


def reference(steps, lr_a, lr_b, momentum_b, repeats_b):
    """Plain numpy: SGD on a, SGD with momentum on b (momentum state carried across steps)."""
    wa, wb, vb = WA0.astype(np.float64), WB0.astype(np.float64), np.zeros((3, 1))
    n = len(X)
    for _ in range(steps):
        wa = wa - lr_a * (2.0 / n) * X.T @ (X @ wa - Y)
        for _ in range(repeats_b):
            g = (2.0 / n) * X.T @ (X @ wb - X @ wa)
            vb = momentum_b * vb - lr_b * g
            wb = wb + vb
    return wa, wb


@pytest.mark.parametrize("steps", [1, 3])
def test_two_phase_step_equals_hand_computed_sgd(steps):
    model = TwoPhase(repeats_b=2)
    model.compile(
        optimizers={
            "a": keras.optimizers.SGD(0.1),
            "b": keras.optimizers.SGD(0.05, momentum=0.9),
        }
    )
    # One full batch per step; several epochs = several steps (state carried between them).
    hist = model.fit(X, Y, batch_size=8, epochs=steps, shuffle=False, verbose=0)
    wa, wb = reference(steps, 0.1, 0.05, 0.9, 2)
    np.testing.assert_allclose(ops.convert_to_numpy(model.a.kernel), wa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(model.b.kernel), wb, rtol=1e-5, atol=1e-6)
    assert set(hist.history) == {"a_loss", "b_loss"}
    # Both optimizers advanced: a once per step, b `repeats` times per step.
    assert int(ops.convert_to_numpy(model.optimizers["a"].iterations)) == steps
    assert int(ops.convert_to_numpy(model.optimizers["b"].iterations)) == 2 * steps


def test_every_optimizer_state_is_carried_through_the_trainer():
    """Guards the (undocumented) fact that Keras's JAX trainer carries model.optimizer.variables:
    Adam moments of BOTH phases must change and persist over several steps within one epoch."""
    model = TwoPhase(repeats_b=1)
    model.compile(optimizers={"a": keras.optimizers.Adam(0.01), "b": keras.optimizers.Adam(0.01)})
    model.fit(X, Y, batch_size=2, epochs=1, shuffle=False, verbose=0)  # 4 steps
    for name in ("a", "b"):
        opt = model.optimizers[name]
        assert int(ops.convert_to_numpy(opt.iterations)) == 4
        moments = [ops.convert_to_numpy(v) for v in opt.variables if "momentum" in v.path]
        assert moments and all(np.abs(m).sum() > 0 for m in moments)


def test_loss_metrics_are_epoch_means():
    model = TwoPhase(repeats_b=1)
    model.compile(optimizers={"a": keras.optimizers.SGD(0.0), "b": keras.optimizers.SGD(0.0)})
    hist = model.fit(X, Y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    per_batch = [np.mean((X[i : i + 2] @ WA0 - Y[i : i + 2]) ** 2) for i in range(0, 8, 2)]
    np.testing.assert_allclose(hist.history["a_loss"][0], np.mean(per_batch), rtol=1e-5)


def test_grad_equals_analytic_gradient():
    x = ops.convert_to_tensor(np.array([[0.5, -1.0], [2.0, 3.0]], dtype="float32"))
    g = grad(lambda t: ops.sin(t) * t**2, x)
    xn = ops.convert_to_numpy(x)
    np.testing.assert_allclose(
        ops.convert_to_numpy(g), np.cos(xn) * xn**2 + 2 * xn * np.sin(xn), rtol=1e-5
    )


class PenaltyModel(PhasedModel):
    """Loss = mean over rows of ||d f(x)/dx||^2 with f(x) = sum(tanh(x W)); needs grad-of-grad."""

    def __init__(self, w):
        super().__init__()
        self.d = keras.layers.Dense(2, use_bias=False, activation="tanh")
        self.d.build((None, 3))
        self.d.kernel.assign(w)
        self.built = True

    def penalty(self, batch):
        g = grad(lambda t: self.d(t), batch.x)
        return ops.mean(ops.sum(ops.square(g), axis=1))

    def phases(self):
        return [Phase("p", self.d.trainable_variables, self.optimizers["p"], self.penalty)]


def _penalty_np(w, x):
    h = np.tanh(x @ w)  # (n, 2)
    g = (1 - h**2) @ w.T  # (n, 3)
    return np.mean(np.sum(g**2, axis=1))


def test_grad_inside_a_loss_is_differentiable():
    """One SGD step on a gradient-penalty loss equals the finite-difference gradient update."""
    w0 = RNG.normal(size=(3, 2)).astype("float64") * 0.5
    model = PenaltyModel(w0.astype("float32"))
    model.compile(optimizers={"p": keras.optimizers.SGD(0.1)})
    model.fit(X, batch_size=8, epochs=1, verbose=0)
    eps, fd = 1e-6, np.zeros_like(w0)
    for i in np.ndindex(*w0.shape):
        wp, wm = w0.copy(), w0.copy()
        wp[i] += eps
        wm[i] -= eps
        fd[i] = (_penalty_np(wp, X.astype("float64")) - _penalty_np(wm, X.astype("float64"))) / (
            2 * eps
        )
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.d.kernel), w0 - 0.1 * fd, rtol=1e-4, atol=1e-5
    )
