"""The conditional autoencoder of Gu, Kelly & Xiu (2021), "Autoencoder asset pricing models".

Two inputs, one product. Each month t:

- the *beta network* maps every asset's lagged characteristics ``z_{i,t-1}`` (N x P) to its K
  factor loadings: CA0 is linear (``beta = Z Gamma``); CA1, CA2 and CA3 have 1, 2 and 3 hidden
  layers (32, 16, 8 units) with batch normalisation and ReLU;
- the *factor network* maps the P characteristic-managed portfolios
  ``x_t = (Z'Z)^{-1} Z' r_t`` (:func:`keraslab.data.finance.managed_portfolios`) to K factors
  with one linear layer;
- the predicted returns are ``beta f`` (a ``Dot`` over the factor axis).

The loss is the mean squared error over the assets present (padding rows carry a NaN return),
plus an L1 penalty on every kernel; training stops early on the validation loss, and the paper
averages an ensemble of several seeds (:class:`CAEnsemble`). ``model.beta_network`` and
``model.factor_network`` are Functional models of their own, usable apart.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from keraslab.engine.seeding import set_seed

ARCHITECTURES = {"ca0": (), "ca1": (32,), "ca2": (32, 16), "ca3": (32, 16, 8)}


def beta_network(n_characteristics: int, n_factors: int, hidden=(), l1: float = 0.0):
    """Functional model ``[characteristics (N, P), mask (N,)] -> betas (N, K)``. Batch
    normalisation statistics use the rows in ``mask`` only (padding rows are left out)."""
    reg = keras.regularizers.L1(l1) if l1 else None
    z = keras.Input((None, n_characteristics), name="characteristics")
    mask = keras.Input((None,), dtype="bool", name="mask")
    h = z
    for i, units in enumerate(hidden):
        h = layers.Dense(units, kernel_regularizer=reg, name=f"beta_hidden_{i + 1}")(h)
        h = layers.BatchNormalization(name=f"beta_bn_{i + 1}")(h, mask=mask)
        h = layers.ReLU(name=f"beta_relu_{i + 1}")(h)
    betas = layers.Dense(n_factors, use_bias=bool(hidden), kernel_regularizer=reg, name="betas")(h)
    return keras.Model([z, mask], betas, name="beta_network")


def factor_network(n_portfolios: int, n_factors: int, l1: float = 0.0):
    """Functional model ``managed portfolios (P,) -> factors (K,)``: one linear layer."""
    reg = keras.regularizers.L1(l1) if l1 else None
    x = keras.Input((n_portfolios,), name="portfolios")
    f = layers.Dense(n_factors, use_bias=False, kernel_regularizer=reg, name="factors")(x)
    return keras.Model(x, f, name="factor_network")


@keras.saving.register_keras_serializable(package="keraslab")
class ConditionalAutoencoder(keras.Model):
    """``[characteristics (N, P), portfolios (P,), mask (N,)] -> predicted returns (N,)``.

    ``hidden``: the beta network's hidden widths (``ARCHITECTURES["ca2"] == (32, 16)``).
    """

    def __init__(self, n_characteristics: int, n_factors: int, hidden=(), l1: float = 0.0, **kw):
        betas_net = beta_network(n_characteristics, n_factors, tuple(hidden), l1)
        factors_net = factor_network(n_characteristics, n_factors, l1)
        z = keras.Input((None, n_characteristics), name="characteristics")
        x = keras.Input((n_characteristics,), name="portfolios")
        mask = keras.Input((None,), dtype="bool", name="mask")
        r = layers.Dot(axes=(2, 1), name="predicted_returns")(
            [betas_net([z, mask]), factors_net(x)]
        )
        super().__init__(inputs=[z, x, mask], outputs=r, **kw)
        self.beta_network = betas_net
        self.factor_network = factors_net
        self.n_characteristics, self.n_factors = n_characteristics, n_factors
        self.hidden, self.l1 = tuple(hidden), float(l1)

    def get_config(self):
        return {
            **super().get_config(),
            "n_characteristics": self.n_characteristics,
            "n_factors": self.n_factors,
            "hidden": list(self.hidden),
            "l1": self.l1,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaskedMSE(keras.losses.Loss):
    """Mean squared error over the entries whose target is not NaN (one number per batch, every
    asset-month weighted alike, as in the paper's objective)."""

    def __init__(self, name="masked_mse", **kw):
        super().__init__(name=name, **kw)

    def call(self, y_true, y_pred):
        present = ops.logical_not(ops.isnan(y_true))
        target = ops.where(present, y_true, ops.zeros_like(y_true))
        w = ops.cast(present, y_pred.dtype)
        return ops.sum(w * ops.square(target - y_pred)) / ops.maximum(ops.sum(w), 1.0)


def model_inputs(panel):
    """``[characteristics, managed portfolios, mask]`` of a :class:`~keraslab.data.finance.Panel`."""
    from keraslab.data.finance import managed_portfolios

    return [
        panel.characteristics,
        managed_portfolios(panel.characteristics, panel.returns),
        panel.mask,
    ]


class CAEnsemble:
    """The paper's estimator: ``seeds`` conditional autoencoders trained from different random
    starts (Adam, early stopping on the validation loss, best weights kept); predictions are
    averaged over the members. Same interface as the baselines of
    :mod:`keraslab.models.factor_models`: ``fit(train, val)``, and ``betas(panel)`` /
    ``factors(panel)``, one array per member."""

    def __init__(
        self,
        architecture: str = "ca2",
        n_factors: int = 5,
        seeds=(0, 1, 2, 3, 4),
        l1: float = 1e-4,
        learning_rate: float = 3e-3,
        epochs: int = 300,
        batch_size: int = 4,
        patience: int = 20,
    ):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
        self.architecture, self.n_factors, self.seeds = architecture, n_factors, tuple(seeds)
        self.l1, self.learning_rate, self.epochs = l1, learning_rate, epochs
        self.batch_size, self.patience = batch_size, patience
        self.models: list[ConditionalAutoencoder] = []
        self.epochs_trained: list[int] = []

    def build(self, n_characteristics: int, seed: int) -> ConditionalAutoencoder:
        set_seed(seed)
        model = ConditionalAutoencoder(
            n_characteristics, self.n_factors, ARCHITECTURES[self.architecture], self.l1
        )
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=MaskedMSE())
        return model

    def fit(self, train, val, verbose: int = 0) -> CAEnsemble:
        xt, xv = model_inputs(train), model_inputs(val)
        self.models, self.epochs_trained = [], []
        for seed in self.seeds:
            model = self.build(train.characteristics.shape[-1], seed)
            stop = keras.callbacks.EarlyStopping(patience=self.patience, restore_best_weights=True)
            hist = model.fit(
                xt,
                train.returns,
                validation_data=(xv, val.returns),
                epochs=self.epochs,
                batch_size=self.batch_size,
                callbacks=[stop],
                verbose=verbose,
            )
            self.models.append(model)
            self.epochs_trained.append(len(hist.history["loss"]))
        return self

    def betas(self, panel) -> list[np.ndarray]:
        """Each member's betas (T, N, K) on ``panel``."""
        z, _, mask = model_inputs(panel)
        return [
            np.asarray(m.beta_network.predict([z, mask], verbose=0, batch_size=64))
            for m in self.models
        ]

    def factors(self, panel) -> list[np.ndarray]:
        """Each member's factors (T, K) on ``panel``."""
        _, x, _ = model_inputs(panel)
        return [
            np.asarray(m.factor_network.predict(x, verbose=0, batch_size=256)) for m in self.models
        ]
