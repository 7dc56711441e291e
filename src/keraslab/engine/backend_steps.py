"""One train step and one test step per backend for a :class:`~keraslab.engine.model.PhasedModel`.

The only module (with ``engine.grad``) that touches jax, tensorflow or torch; each import happens
inside the function of its backend, so using one backend never imports another.
"""

from __future__ import annotations

import keras

from keraslab.engine.gradients import no_grad


def _update_trackers(model, values: dict, weights: dict | None = None):
    for name, value in values.items():
        weight = None if weights is None else weights[name]
        model._phase_trackers[name].update_state(value, sample_weight=weight)
    return {name: t.result() for name, t in model._phase_trackers.items()}


def _evaluation_values(model, batch):
    """Every phase's loss and metrics on one batch, all on the same (unchanged) weights, and the
    weight of the batch in each mean (:meth:`Phase.weight_of`)."""
    values, weights = {}, {}
    for phase in model._compiled_phases():
        loss, extra = phase.compute(batch)
        weight = phase.weight_of(batch)
        for name, value in {f"{phase.name}_loss": loss, **extra}.items():
            values[name], weights[name] = value, weight
    return values, weights


# ---------------------------------------------------------------- TensorFlow and PyTorch
def test_step(model, data):
    """Evaluation on TensorFlow (inside Keras's ``tf.function``) and PyTorch (eager): each phase
    loss once, with ``batch.training`` False, and no update of any variable."""
    batch = model.unpack(data)._replace(training=False)
    with no_grad():  # a loss may still take gradients inside it (engine.grad enables them)
        values, weights = _evaluation_values(model, batch)
    return _update_trackers(model, values, weights)


# ---------------------------------------------------------------- TensorFlow
def tensorflow_train_step(model, data):
    import tensorflow as tf

    batch = model.unpack(data)
    values = {}
    for phase in model._compiled_phases():
        for _ in range(phase.repeats):
            with tf.GradientTape() as tape:
                loss, extra = phase.compute(batch)
            grads = tape.gradient(loss, phase.variables)
            phase.optimizer.apply(grads, phase.variables)
        values[f"{phase.name}_loss"] = loss
        values.update(extra)
    return _update_trackers(model, values)


# ---------------------------------------------------------------- PyTorch
def torch_train_step(model, data):
    import torch

    batch = model.unpack(data)
    values = {}
    for phase in model._compiled_phases():
        params = [v.value for v in phase.variables]
        for _ in range(phase.repeats):
            loss, extra = phase.compute(batch)
            # autograd.grad (not backward): no stray .grad left on other phases' variables.
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
            with torch.no_grad():
                phase.optimizer.apply(grads, phase.variables)
        values[f"{phase.name}_loss"] = loss.detach()
        values.update({k: v.detach() if hasattr(v, "detach") else v for k, v in extra.items()})
    return _update_trackers(model, values)


# ---------------------------------------------------------------- JAX
def jax_train_step(model, state, data):
    """Stateless step: ``state`` = (trainable, non_trainable, optimizer, metrics) value lists,
    aligned with ``model.trainable_variables``, ``model.non_trainable_variables``,
    ``model.optimizer.variables`` and ``model.metrics_variables`` (Keras's JAX trainer contract).
    """
    import jax

    trainable, non_trainable, opt_values, metric_values = state
    batch = model.unpack(data)

    # Current value of every model variable, by identity.
    current = {}
    for v, val in zip(model.trainable_variables, trainable):
        current[id(v)] = val
    for v, val in zip(model.non_trainable_variables, non_trainable):
        current[id(v)] = val
    opt_current = {id(v): val for v, val in zip(model.optimizer.variables, opt_values)}
    all_model_vars = list(model.trainable_variables) + list(model.non_trainable_variables)

    values = {}
    for phase in model._compiled_phases():
        phase_ids = {id(v) for v in phase.variables}
        others = [v for v in all_model_vars if id(v) not in phase_ids]
        opt_vars = phase.optimizer.variables

        def loss_fn(phase_values, other_values, opt_mapping, phase=phase, others=others):
            mapping = list(zip(phase.variables, phase_values)) + list(zip(others, other_values))
            # Optimizer state is readable (not differentiated) in a loss, e.g. a warm-up
            # schedule on ``optimizer.iterations``.
            mapping += opt_mapping
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, extra = phase.compute(batch)
            updated = [scope.get_current_value(v) for v in others]
            return loss, (extra, updated)

        for _ in range(phase.repeats):
            phase_values = [current[id(v)] for v in phase.variables]
            other_values = [current[id(v)] for v in others]
            opt_mapping = [(v, opt_current[id(v)]) for v in model.optimizer.variables]
            (loss, (extra, updated)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                phase_values, other_values, opt_mapping
            )
            new_phase_values, new_opt = phase.optimizer.stateless_apply(
                [opt_current[id(v)] for v in opt_vars], grads, phase_values
            )
            for v, val in zip(phase.variables, new_phase_values):
                current[id(v)] = val
            for v, val in zip(opt_vars, new_opt):
                opt_current[id(v)] = val
            # Non-trainable state written during the loss (batch-norm statistics, seed counters).
            for v, val in zip(others, updated):
                if val is not None:
                    current[id(v)] = val
        values[f"{phase.name}_loss"] = loss
        values.update(extra)

    logs, new_metric_values = _stateless_trackers(model, metric_values, values)
    new_state = (
        [current[id(v)] for v in model.trainable_variables],
        [current[id(v)] for v in model.non_trainable_variables],
        [opt_current[id(v)] for v in model.optimizer.variables],
        new_metric_values,
    )
    return logs, new_state


def jax_test_step(model, state, data):
    """Stateless evaluation: ``state`` = (trainable, non_trainable, metrics) value lists (Keras's
    JAX ``test_step`` contract); returns ``(logs, state)`` with the trainable values unchanged.

    Non-trainable values written by a loss (seed counters) are carried from batch to batch;
    ``PhasedModel.evaluate`` puts them back as they were once the evaluation is over. Optimizer
    variables are not part of this state: a loss that reads them in evaluation sees the values
    they had when the step was traced, so evaluation losses should not depend on them.
    """
    trainable, non_trainable, metric_values = state
    batch = model.unpack(data)._replace(training=False)
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        values, weights = _evaluation_values(model, batch)
    new_non_trainable = []
    for v, old in zip(model.non_trainable_variables, non_trainable):
        val = scope.get_current_value(v)
        new_non_trainable.append(old if val is None else val)
    logs, new_metric_values = _stateless_trackers(model, metric_values, values, weights)
    return logs, (list(trainable), new_non_trainable, new_metric_values)


def _stateless_trackers(model, metric_values, values: dict, weights: dict | None = None):
    """Update the loss trackers named in ``values`` statelessly; return (logs, metric values)."""
    metric_current = dict(zip([id(v) for v in model.metrics_variables], metric_values))
    logs = {}
    for name, tracker in model._phase_trackers.items():
        tvals = [metric_current[id(v)] for v in tracker.variables]
        if name in values:
            weight = None if weights is None else weights[name]
            tvals = tracker.stateless_update_state(tvals, values[name], sample_weight=weight)
            for v, val in zip(tracker.variables, tvals):
                metric_current[id(v)] = val
        logs[name] = tracker.stateless_result(tvals)
    return logs, [metric_current[id(v)] for v in model.metrics_variables]
