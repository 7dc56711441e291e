"""Phases: what a model declares so that the engine can train it on any backend.

A *phase* says which variables one optimizer updates, with which loss, how many times per batch.
A GAN has two (discriminator, generator); WGAN-GP repeats its critic phase n times; a weighted
classifier has one. Losses are written with ``keras.ops`` only; the engine differentiates them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import keras
from keras import ops


class Batch(NamedTuple):
    """One batch as the engine hands it to a phase loss: inputs, targets, sample weights, mode.

    ``training`` is True in ``fit`` and False in ``evaluate`` (and for ``validation_data``). A
    phase loss passes it on to its networks (``self.net(batch.x, training=batch.training)``:
    dropout off, batch normalisation on its moving statistics) and leaves out terms that exist
    only to train (label smoothing, label noise, warm-up schedules), so that an evaluation
    measures the model's objective itself.
    """

    x: Any
    y: Any = None
    sample_weight: Any = None
    training: bool = True


@dataclass
class Phase:
    """One optimisation phase of a :class:`PhasedModel`.

    Args:
        name: str. Phase name; its loss is logged as ``"<name>_loss"``.
        variables: list of trainable ``keras.Variable``. What this phase updates.
        optimizer: ``keras.optimizers.Optimizer``. Owned by this phase alone.
        loss: callable ``(batch: Batch) -> loss`` or ``-> (loss, {name: value})``. A scalar loss
            written with ``keras.ops``; extra values listed in ``metrics`` are logged too.
        repeats: int. Updates of this phase per batch (e.g. 5 critic steps for WGAN-GP).
        metrics: tuple of str. Names of the extra values the loss returns, averaged per epoch.
        batch_weight: optional callable ``(batch: Batch) -> scalar``. How much one batch counts
            in the means that ``evaluate()`` returns for this phase's loss and metrics. Default:
            its number of examples (as Keras weights its own loss), which makes the result the
            mean over the data of a loss that is a per-example mean. A loss averaged over
            tokens gives the batch's token count, so the result is the mean over all tokens.

    Example:
        >>> Phase("critic", critic.trainable_variables, keras.optimizers.Adam(1e-4),
        ...       loss=critic_loss, repeats=5, metrics=("gp",))
    """

    name: str
    variables: Sequence[keras.Variable]
    optimizer: keras.optimizers.Optimizer
    loss: Callable[[Batch], Any]
    repeats: int = 1
    metrics: tuple[str, ...] = field(default_factory=tuple)
    batch_weight: Callable[[Batch], Any] | None = None

    def __post_init__(self):
        if self.repeats < 1:
            raise ValueError(f"phase {self.name!r}: repeats must be >= 1, got {self.repeats}.")
        self.variables = list(self.variables)
        if not self.variables:
            raise ValueError(f"phase {self.name!r} has no variables to train.")

    def compute(self, batch: Batch):
        """Run the loss; always return ``(loss, extra_logs_dict)``."""
        out = self.loss(batch)
        if isinstance(out, tuple):
            loss, extra = out
        else:
            loss, extra = out, {}
        missing = set(extra) - set(self.metrics)
        if missing:
            raise ValueError(
                f"phase {self.name!r} returned undeclared metrics {sorted(missing)}: "
                "list them in Phase(metrics=...)."
            )
        return loss, dict(extra)

    def weight_of(self, batch: Batch):
        """The weight of ``batch`` in this phase's evaluation means (see ``batch_weight``)."""
        if self.batch_weight is not None:
            return ops.cast(self.batch_weight(batch), "float32")
        first = next(t for t in keras.tree.flatten(batch.x) if t is not None)
        return ops.cast(ops.shape(first)[0], "float32")


class PhaseOptimizers(keras.optimizers.Optimizer):
    """All phase optimizers behind the single ``model.optimizer`` that Keras trainers expect.

    Keras's JAX trainer carries exactly ``model.optimizer.variables`` through its jitted steps;
    exposing every phase optimizer's variables here is what keeps their state (Adam moments,
    iteration counters) from being lost between steps. ``tests/engine`` guards this.

    Args:
        optimizers: dict of str to ``keras.optimizers.Optimizer``, keyed by phase name.
    """

    def __init__(self, optimizers: dict[str, keras.optimizers.Optimizer], name="phase_optimizers"):
        super().__init__(learning_rate=0.0, name=name)
        # Plain dict copy: each optimizer keeps its own state.
        self.phase_optimizers = dict(optimizers)

    @property
    def variables(self):
        return [v for opt in self.phase_optimizers.values() for v in opt.variables]

    @property
    def optimizers(self) -> list:
        """The phase optimizers (what Keras's TensorBoard callback reads the learning rates of:
        ``learning_rate_<optimizer name>``, instead of this container's 0)."""
        return list(self.phase_optimizers.values())

    def build_phases(self, phases: Sequence[Phase]):
        for phase in phases:
            if not phase.optimizer.built:
                phase.optimizer.build(phase.variables)
        self.built = True

    def build(self, var_list):  # Keras may call this; phases build their own optimizers.
        self.built = True

    def apply(self, grads, trainable_variables=None):
        raise RuntimeError(
            "PhaseOptimizers is applied phase by phase by the keraslab engine, not directly."
        )

    def get_config(self):
        return {
            "name": self.name,
            "optimizers": {
                k: keras.optimizers.serialize(v) for k, v in self.phase_optimizers.items()
            },
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        opts = {
            k: keras.optimizers.deserialize(v, custom_objects=custom_objects)
            for k, v in config["optimizers"].items()
        }
        return cls(opts, name=config.get("name", "phase_optimizers"))
