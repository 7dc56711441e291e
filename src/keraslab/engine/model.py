"""``PhasedModel``: a ``keras.Model`` whose ``train_step`` runs declared phases on any backend."""

from __future__ import annotations

import keras

from keraslab.engine import backend_steps
from keraslab.engine.phases import Batch, Phase, PhaseOptimizers


class PhasedModel(keras.Model):
    """Base class for models trained by several optimizers (GANs, WGAN-GP, VAEs, ...).

    Subclasses implement :meth:`phases` (and usually ``call`` for inference). ``compile`` takes
    one optimizer per phase name; ``fit`` then runs every phase, in order, ``repeats`` times per
    batch, on JAX, TensorFlow or PyTorch, with per-epoch means of each phase loss as metrics.
    Models describe, the engine differentiates: no backend code in subclasses.

    Randomness inside a step must come from a ``keras.random.SeedGenerator`` owned by the model
    (``self.seed_generator``); its state is carried and checkpointed like any variable.

    ``evaluate`` (and ``fit(validation_data=...)``) runs every phase loss once per batch with
    ``batch.training`` False, on the same weights, updating nothing, and returns the mean of
    each ``"<phase>_loss"`` and phase metric over the data (batches weighted by
    ``Phase.batch_weight``: examples by default). A loss honours ``batch.training`` by passing it
    to its networks' ``training=`` and by dropping training-only terms. Seed-generator states and
    other non-trainable variables are restored after the evaluation, so evaluating never changes
    what training does next.

    Example:
        >>> class TwoPhase(PhasedModel):
        ...     def phases(self):
        ...         return [Phase("a", self.a.trainable_variables, self.optimizers["a"], self.loss_a),
        ...                 Phase("b", self.b.trainable_variables, self.optimizers["b"], self.loss_b)]
        >>> model.compile(optimizers={"a": keras.optimizers.SGD(0.1), "b": keras.optimizers.Adam()})
        >>> model.fit(x, epochs=2)
        >>> model.evaluate(x_val, return_dict=True)       # {"a_loss": ..., "b_loss": ...}
    """

    def phases(self) -> list[Phase]:
        raise NotImplementedError("a PhasedModel subclass must define phases().")

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        container = getattr(self, "optimizer", None)
        if not isinstance(container, PhaseOptimizers):
            raise RuntimeError("call compile(optimizers={...}) before using the phases.")
        return container.phase_optimizers

    def compile(self, optimizers: dict[str, keras.optimizers.Optimizer] | None = None, **kwargs):
        """Configure one optimizer per phase.

        Args:
            optimizers: dict of str to ``keras.optimizers.Optimizer``. One per phase name.
            **kwargs: passed to ``keras.Model.compile`` (e.g. ``jit_compile``). ``loss`` and
                ``metrics`` are not used: losses live in the phases.
        """
        if not optimizers:
            raise ValueError("compile needs optimizers={phase_name: optimizer, ...}.")
        for key in ("loss", "optimizer", "metrics"):
            if kwargs.get(key) is not None:
                raise ValueError(
                    f"PhasedModel.compile does not take {key}=: losses live in phases()."
                )
        container = PhaseOptimizers(optimizers)
        super().compile(optimizer=container, **kwargs)
        phases = self.phases()
        names = [p.name for p in phases]
        if sorted(names) != sorted(optimizers):
            raise ValueError(
                f"optimizers are keyed {sorted(optimizers)} but the phases are {names}."
            )
        container.build_phases(phases)
        trackers = {}
        for p in phases:
            trackers[f"{p.name}_loss"] = keras.metrics.Mean(name=f"{p.name}_loss")
            for m in p.metrics:
                trackers[m] = keras.metrics.Mean(name=m)
        # Held outside Keras's attribute tracking: metrics cannot be added to a built model.
        object.__setattr__(self, "_phase_trackers", trackers)
        object.__setattr__(self, "_phase_cache", phases)

    def get_compile_config(self):
        container = getattr(self, "optimizer", None)
        if not isinstance(container, PhaseOptimizers):
            return None
        return {
            "optimizers": {
                k: keras.optimizers.serialize(v) for k, v in container.phase_optimizers.items()
            }
        }

    def compile_from_config(self, config):
        """Re-compile after ``keras.saving.load_model`` (then the saved optimizer state loads)."""
        self.compile(
            optimizers={k: keras.optimizers.deserialize(v) for k, v in config["optimizers"].items()}
        )

    @property
    def metrics(self):
        return list(getattr(self, "_phase_trackers", {}).values())

    def _compiled_phases(self) -> list[Phase]:
        phases = getattr(self, "_phase_cache", None)
        if phases is None:
            raise RuntimeError("call compile(optimizers={...}) before fit().")
        return phases

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            return backend_steps.jax_train_step(self, state, data)
        (data,) = args
        if keras.backend.backend() == "tensorflow":
            return backend_steps.tensorflow_train_step(self, data)
        if keras.backend.backend() == "torch":
            return backend_steps.torch_train_step(self, data)
        raise NotImplementedError(f"backend {keras.backend.backend()!r} is not supported.")

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            return backend_steps.jax_test_step(self, state, data)
        if keras.backend.backend() in ("tensorflow", "torch"):
            (data,) = args
            return backend_steps.test_step(self, data)
        raise NotImplementedError(f"backend {keras.backend.backend()!r} is not supported.")

    def evaluate(self, *args, **kwargs):
        """``keras.Model.evaluate``: each phase's loss and metrics, means over the data.

        The non-trainable variables (seed-generator states, batch-norm statistics) are put back
        as they were before, so an evaluation -- also the one ``fit`` runs on
        ``validation_data`` -- leaves the next training steps exactly as without it, and two
        evaluations of the same data give the same numbers.
        """
        saved = [(v, keras.ops.convert_to_numpy(v)) for v in self.non_trainable_variables]
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            for v, value in saved:
                v.assign(value)

    @staticmethod
    def unpack(data) -> Batch:
        x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
        return Batch(x, y, sw)


def fastest_jit_compile() -> bool:
    """The ``jit_compile`` setting that trained convolutional GANs fastest on each backend on CPU.

    TensorFlow: XLA (13.6 DCGAN updates/s against 9.7 for a plain ``tf.function``); JAX: always
    jitted; PyTorch: eager (``torch.compile`` measured 8.2 against 10.3). benchmarks/
    time_to_quality.py (then named dcgan_time_to_quality.py), BENCHMARKS.md.
    """
    return keras.backend.backend() in ("tensorflow", "jax")
