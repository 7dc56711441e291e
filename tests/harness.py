"""A shared test harness for keraslab's layers and models, in the style of keras-hub's
``TestCase.run_layer_test`` / ``run_serialization_test`` / ``run_model_saving_test``.

Two entry points run every check on one object and return a report ``{check: outcome}``:

- :func:`run_layer_test` for a ``keras.layers.Layer``, checks :data:`LAYER_CHECKS`: ``call``
  (eager call, shapes), ``config`` (``get_config``/``from_config`` and serialization round
  trips), ``saving`` (``.keras`` save/load inside a functional model), ``training`` (one step);
- :func:`run_model_test` for a ``keras.Model``, a keraslab ``PhasedModel`` included, or a
  function that builds one, checks :data:`MODEL_CHECKS`: the same four (the model itself is
  saved) plus ``trained_saving`` (the trained, compiled model saved and loaded back with its
  optimizer state).

A check that cannot apply to an object is turned off with ``skip={check: reason}``: the reason is
required (no silent skips) and appears in the report as ``"not run: <reason>"``. The single checks
(:func:`check_call`, :func:`check_config_round_trip`, :func:`check_layer_saving`, ...) are public
too, so that a test can run one of them alone (e.g. under ``xfail(strict=True)`` for a known bug).

Only ``keras``, ``keras.ops`` and numpy are used, so the same checks run on every backend.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from keraslab.engine import PhasedModel

LAYER_CHECKS = ("call", "config", "saving", "training")
MODEL_CHECKS = ("call", "config", "saving", "training", "trained_saving")
PASSED = "passed"


# ---------------------------------------------------------------- small helpers
def to_tensors(data):
    """``data`` (a nest of numpy arrays) as backend tensors of the same dtypes."""
    return keras.tree.map_structure(ops.convert_to_tensor, data)


def to_numpy(data):
    """Every tensor of a nest as a numpy array."""
    return keras.tree.map_structure(ops.convert_to_numpy, data)


def _tuples(x):
    """Lists turned into tuples, recursively (to compare shape structures)."""
    if isinstance(x, (list, tuple)):
        return tuple(_tuples(v) for v in x)
    if isinstance(x, dict):
        return {k: _tuples(v) for k, v in x.items()}
    return x


def output_shapes(outputs):
    """The shape (a tuple) of a tensor, or a tuple/dict of them for a nest (lists as tuples)."""
    if isinstance(outputs, dict):
        return {k: output_shapes(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return tuple(output_shapes(v) for v in outputs)
    return tuple(None if d is None else int(d) for d in outputs.shape)


def shapes_match(actual, expected, free_batch=False) -> bool:
    """Whether shape nests agree; with ``free_batch`` a ``None`` in ``actual`` matches any size
    (symbolic shapes)."""
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(shapes_match(actual[k], expected[k], free_batch) for k in expected)
        )
    if expected and isinstance(expected[0], (tuple, list, dict)):  # several outputs
        return (
            isinstance(actual, tuple)
            and len(actual) == len(expected)
            and all(shapes_match(a, e, free_batch) for a, e in zip(actual, expected))
        )
    if not isinstance(actual, tuple) or len(actual) != len(expected):
        return False
    return all(a == e or (free_batch and a is None) for a, e in zip(actual, expected))


def assert_close(expected, actual, atol=1e-6, rtol=1e-5, what="outputs"):
    """Every leaf of two nests equal within tolerance (same structure, same shapes)."""
    a, b = keras.tree.flatten(to_numpy(expected)), keras.tree.flatten(to_numpy(actual))
    assert len(a) == len(b), f"{what}: {len(a)} tensors vs {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        np.testing.assert_allclose(
            np.asarray(y), np.asarray(x), atol=atol, rtol=rtol, err_msg=f"{what}[{i}]"
        )


def _is_float(t) -> bool:
    return "float" in keras.backend.standardize_dtype(t.dtype)


def _config_json(config) -> str:
    # default=repr would hide a config that .keras files cannot store: a TypeError is a finding.
    return json.dumps(config, sort_keys=True, indent=1)


def _skips(skip: Mapping[str, str] | None, allowed: Sequence[str]) -> dict[str, str]:
    skip = dict(skip or {})
    for name, reason in skip.items():
        if name not in allowed:
            raise ValueError(f"unknown check {name!r} in skip= (checks: {', '.join(allowed)}).")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"skip[{name!r}] needs a reason (a non-empty string).")
    if "training" in skip and "trained_saving" in allowed and "trained_saving" not in skip:
        raise ValueError("trained_saving saves the trained model: skip it too, with its reason.")
    return skip


def _kwargs(init_kwargs) -> dict:
    """Fresh constructor arguments: ``init_kwargs()`` if callable (for arguments that are layer
    objects, which must not be shared between instances), else a copy of the dict."""
    return dict(init_kwargs()) if callable(init_kwargs) else dict(init_kwargs)


def call_object(obj, data, call_kwargs=None, unpack_dict=True):
    """``obj(**data, **call_kwargs)`` when ``data`` is a dict (a layer's call arguments by name)
    and ``unpack_dict``; otherwise ``obj(data, **call_kwargs)`` (a list is one argument, e.g.
    ``Sampling()([mean, log_var])``)."""
    call_kwargs = dict(call_kwargs or {})
    if unpack_dict and isinstance(data, dict):
        return obj(**data, **call_kwargs)
    return obj(data, **call_kwargs)


def copy_variables(source, target) -> None:
    """Assign every variable of ``source`` (weights, seed-generator states) to ``target``; both
    must have been built from the same config (same variables, in the same order)."""
    src, dst = list(source.variables), list(target.variables)
    assert len(src) == len(dst), (
        f"{len(src)} variables in the original but {len(dst)} in the revived object:\n"
        f"{[v.path for v in src]}\n{[v.path for v in dst]}"
    )
    for a, b in zip(src, dst):
        assert tuple(a.shape) == tuple(b.shape), f"{a.path} {a.shape} vs {b.path} {b.shape}"
        b.assign(ops.convert_to_numpy(a))


def _variable_values(variables) -> list[np.ndarray]:
    return [np.array(ops.convert_to_numpy(v)) for v in variables]


def assert_weights_changed(variables, before, allow_unchanged: Sequence[str] = ()):
    """Every variable whose path contains none of ``allow_unchanged`` differs from ``before``."""
    stuck = []
    for v, old in zip(variables, before):
        if any(pattern in v.path for pattern in allow_unchanged):
            continue
        if np.array_equal(np.asarray(ops.convert_to_numpy(v)), old):
            stuck.append(v.path)
    assert not stuck, f"one training step left these weights unchanged: {stuck}"


def _assert_finite_logs(logs: Mapping[str, Any]):
    assert logs, "the training step returned no logs"
    bad = {k: float(np.asarray(v)) for k, v in logs.items() if not np.all(np.isfinite(v))}
    assert not bad, f"non-finite training logs: {bad}"


def _tmp_file(tmp_dir, name) -> Path:
    return Path(tmp_dir) / name


# ---------------------------------------------------------------- the single checks
def check_call(
    obj,
    input_data,
    expected_output_shape=None,
    call_kwargs=None,
    unpack_dict=True,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
):
    """Call ``obj`` eagerly on ``input_data`` and check the result; returns the outputs.

    Checks: ``obj`` is built afterwards; the output shapes equal ``expected_output_shape`` (a
    shape tuple, or a tuple/list/dict of them for several outputs) when given; float outputs have
    ``obj.compute_dtype`` and are finite; the trainable / non-trainable weight counts when given.
    """
    out = call_object(obj, to_tensors(input_data), call_kwargs, unpack_dict)
    assert obj.built, f"{type(obj).__name__} is not built after being called"
    if expected_output_shape is not None:
        got = output_shapes(out)
        assert shapes_match(got, _tuples(expected_output_shape)), (
            f"output shape {got}, expected {expected_output_shape}"
        )
    for t in keras.tree.flatten(out):
        if _is_float(t):
            dtype = keras.backend.standardize_dtype(t.dtype)
            assert dtype == obj.compute_dtype, f"output dtype {dtype}, not {obj.compute_dtype}"
            assert np.all(np.isfinite(ops.convert_to_numpy(t))), "non-finite outputs"
    if expected_num_trainable_weights is not None:
        n = len(obj.trainable_weights)
        assert n == expected_num_trainable_weights, (
            f"{n} trainable weights, expected {expected_num_trainable_weights}: "
            f"{[w.path for w in obj.trainable_weights]}"
        )
    if expected_num_non_trainable_weights is not None:
        n = len(obj.non_trainable_weights)
        assert n == expected_num_non_trainable_weights, (
            f"{n} non-trainable weights, expected {expected_num_non_trainable_weights}: "
            f"{[w.path for w in obj.non_trainable_weights]}"
        )
    return out


def check_config_round_trip(
    obj, input_data, call_kwargs=None, unpack_dict=True, atol=1e-6, rtol=1e-5
):
    """``type(obj).from_config(obj.get_config())`` and ``deserialize(serialize(obj))`` (through
    JSON) give an object of the same class with the same (JSON-serialisable) config; with the
    variables of ``obj`` copied in, it computes the same outputs on ``input_data``.

    ``obj`` must be built (called once) already.
    """
    cls = type(obj)
    config = obj.get_config()
    config_json = _config_json(config)
    revived = cls.from_config(copy.deepcopy(config))
    assert type(revived) is cls, f"from_config gave a {type(revived).__name__}"
    assert _config_json(revived.get_config()) == config_json, "from_config changed the config"

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is cls, f"deserialize gave a {type(deserialized).__name__}"
    assert _config_json(deserialized.get_config()) == config_json, "serialization changed config"

    data = to_tensors(input_data)
    if not revived.built or not revived.variables:
        call_object(revived, data, call_kwargs, unpack_dict)  # creates the weights
    copy_variables(obj, revived)
    # Both calls start from the same variables (seed-generator states too): equal outputs even
    # for a layer that draws noise.
    expected = call_object(obj, data, call_kwargs, unpack_dict)
    actual = call_object(revived, data, call_kwargs, unpack_dict)
    assert_close(expected, actual, atol, rtol, "from_config outputs")
    return revived


def _symbolic_inputs(input_data):
    """``keras.Input`` nest matching ``input_data`` (batch dimension left free)."""
    if isinstance(input_data, dict):
        return {
            k: keras.Input(v.shape[1:], dtype=str(v.dtype), name=k) for k, v in input_data.items()
        }
    if isinstance(input_data, (list, tuple)):
        inputs = [
            keras.Input(v.shape[1:], dtype=str(v.dtype), name=f"input_{i}")
            for i, v in enumerate(input_data)
        ]
        return inputs if isinstance(input_data, list) else tuple(inputs)
    return keras.Input(input_data.shape[1:], dtype=str(input_data.dtype), name="input")


def _save_and_load(model, tmp_dir, name):
    path = _tmp_file(tmp_dir, name)
    keras.saving.save_model(model, path)
    return keras.saving.load_model(path)


def _seed_states(obj) -> list:
    return [v for v in obj.variables if "seed_generator_state" in v.path]


def assert_same_weights_and_sync_seeds(original, loaded, atol=0.0):
    """The weights of a loaded model equal the original's, one by one; then the original's
    seed-generator states are copied into the loaded model.

    ``.keras`` files hold layer weights but not ``keras.random.SeedGenerator`` states (Keras
    writes none), so a loaded model's noise restarts from its seeds; copying the states makes
    the outputs of layers that draw noise (``Sampling``, a VAE's ``call``) comparable.
    """
    mine, theirs = list(original.weights), list(loaded.weights)
    assert len(mine) == len(theirs), f"{len(mine)} weights saved, {len(theirs)} loaded"
    for a, b in zip(mine, theirs):
        assert tuple(a.shape) == tuple(b.shape), f"{a.path} {a.shape} vs {b.path} {b.shape}"
        np.testing.assert_allclose(
            ops.convert_to_numpy(b), ops.convert_to_numpy(a), atol=atol, err_msg=a.path
        )
    seeds, loaded_seeds = _seed_states(original), _seed_states(loaded)
    assert len(seeds) == len(loaded_seeds), f"{len(seeds)} vs {len(loaded_seeds)} seed states"
    for a, b in zip(seeds, loaded_seeds):
        b.assign(ops.convert_to_numpy(a))


def check_layer_saving(
    layer,
    input_data,
    expected_output_shape=None,
    call_kwargs=None,
    tmp_dir=None,
    atol=1e-6,
    rtol=1e-5,
):
    """Call an unbuilt ``layer`` on ``keras.Input`` s (the symbolic output shapes must agree with
    ``expected_output_shape`` up to the free batch size), wrap it in a functional model, save that
    to a ``.keras`` file and load it back: the loaded model holds a layer of the same class and
    computes the same outputs on ``input_data``, its weights equal one by one (seed-generator
    states, which ``.keras`` files do not hold, are copied over first:
    :func:`assert_same_weights_and_sync_seeds`)."""
    inputs = _symbolic_inputs(input_data)
    outputs = call_object(layer, inputs, call_kwargs)
    if expected_output_shape is not None:
        got = output_shapes(outputs)
        assert shapes_match(got, _tuples(expected_output_shape), free_batch=True), (
            f"symbolic output shape {got}, expected {expected_output_shape}"
        )
    model = keras.Model(inputs, outputs)
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        loaded = _save_and_load(model, d, "layer.keras")
    revived = loaded.get_layer(layer.name)
    assert type(revived) is type(layer), f"loaded a {type(revived).__name__}"
    assert_same_weights_and_sync_seeds(model, loaded)
    data = to_tensors(input_data)
    assert_close(model(data), loaded(data), atol, rtol, "loaded outputs")
    return loaded


def check_model_saving(model, input_data, tmp_dir=None, atol=1e-6, rtol=1e-5, name="model"):
    """Save ``model`` to a ``.keras`` file and load it back: same class, equal weights, same
    outputs on ``input_data`` (seed-generator states copied over first:
    :func:`assert_same_weights_and_sync_seeds`). Returns the loaded model."""
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        loaded = _save_and_load(model, d, f"{name}.keras")
    assert type(loaded) is type(model), f"loaded a {type(loaded).__name__}"
    assert_same_weights_and_sync_seeds(model, loaded)
    data = to_tensors(input_data)
    assert_close(model(data), loaded(data), atol, rtol, "loaded outputs")
    return loaded


class LayerTrainer(keras.Model):
    """The model that trains a layer in :func:`check_layer_training`: every float input is
    multiplied by a trainable scalar (initially 1), so that a gradient reaching the inputs is
    visible, and the float outputs are flattened and concatenated into one ``(batch, n)``."""

    def __init__(
        self,
        layer,
        input_data,
        call_kwargs=None,
        scale_inputs=True,
        name="layer_trainer",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.layer = layer
        self.call_kwargs = dict(call_kwargs or {})
        flat = keras.tree.flatten(input_data)
        self.input_scales = [
            self.add_weight(name=f"input_scale_{i}", shape=(), initializer="ones")
            if scale_inputs and np.issubdtype(np.asarray(x).dtype, np.floating)
            else None
            for i, x in enumerate(flat)
        ]

    def call(self, inputs):
        flat = keras.tree.flatten(inputs)
        scaled = [x if s is None else x * s for x, s in zip(flat, self.input_scales)]
        out = call_object(self.layer, keras.tree.pack_sequence_as(inputs, scaled), self.call_kwargs)
        parts = [
            ops.reshape(t, (ops.shape(t)[0], -1)) for t in keras.tree.flatten(out) if _is_float(t)
        ]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


def check_layer_training(
    layer,
    input_data,
    call_kwargs=None,
    check_input_gradient=True,
    allow_unchanged: Sequence[str] = (),
    learning_rate=1e-2,
    jit_compile="auto",
    seed=0,
):
    """One ``train_on_batch`` step (Adam, MSE against a random target) of a small model around
    ``layer`` (:class:`LayerTrainer`): the loss is finite and every trainable weight of the layer
    changes (except those whose path contains one of ``allow_unchanged``, e.g. attention key
    biases, which softmax ignores); with ``check_input_gradient`` the scale of every float input
    changes too (the gradient flows through the layer to its inputs)."""
    trainer = LayerTrainer(layer, input_data, call_kwargs, scale_inputs=check_input_gradient)
    width = int(ops.shape(trainer(to_tensors(input_data)))[-1])
    n = len(keras.tree.flatten(input_data)[0])
    target = np.random.default_rng(seed).standard_normal((n, width)).astype("float32")
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=jit_compile
    )
    variables = list(layer.trainable_variables)
    scales = [s for s in trainer.input_scales if s is not None]
    assert variables or scales, "nothing to train: no trainable weights and no input gradient"
    before = _variable_values(variables + scales)
    logs = trainer.train_on_batch(input_data, target, return_dict=True)
    _assert_finite_logs(logs)
    assert_weights_changed(variables + scales, before, allow_unchanged)
    return logs


def _random_like(outputs, seed=0):
    rng = np.random.default_rng(seed)
    return keras.tree.map_structure(
        lambda t: rng.standard_normal(tuple(t.shape)).astype("float32"), to_numpy(outputs)
    )


def check_model_training(
    model,
    input_data,
    train_data=None,
    phases: Sequence[str] | None = None,
    loss="mse",
    allow_unchanged: Sequence[str] = (),
    learning_rate=1e-3,
    jit_compile="auto",
):
    """Compile ``model`` with Adam and run one ``train_on_batch`` step on ``train_data``.

    A keraslab ``PhasedModel`` is compiled with one Adam per name of ``phases`` (its losses live
    in its phases); any other model with ``loss`` (default MSE), and ``train_data`` defaults to
    ``(input_data, random targets shaped like the outputs)``. Checks: every logged value is
    finite (for a PhasedModel, one ``<phase>_loss`` per phase) and every trainable weight changes
    (except those whose path contains one of ``allow_unchanged``). Returns the logs.
    """
    phased = isinstance(model, PhasedModel)
    if phased:
        if not phases:
            raise ValueError(f"{type(model).__name__} is a PhasedModel: give its phases=.")
        model.compile(
            optimizers={p: keras.optimizers.Adam(learning_rate) for p in phases},
            jit_compile=jit_compile,
        )
        if train_data is None:
            train_data = (input_data, None)
    else:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=jit_compile
        )
        if train_data is None:
            train_data = (input_data, _random_like(model(to_tensors(input_data))))
    x, y = train_data
    variables = list(model.trainable_variables)
    assert variables, f"{type(model).__name__} has no trainable weights"
    before = _variable_values(variables)
    logs = model.train_on_batch(x, y, return_dict=True)
    _assert_finite_logs(logs)
    if phased:
        missing = {f"{p}_loss" for p in phases} - set(logs)
        assert not missing, f"no {sorted(missing)} in the logs {sorted(logs)}"
    assert_weights_changed(variables, before, allow_unchanged)
    return logs


def check_trained_model_saving(model, input_data, tmp_dir=None, atol=1e-6, rtol=1e-5):
    """Save a compiled model after one training step (:func:`check_model_training`) to
    ``.keras`` and load it back: compiled again (``compile_from_config``; for a PhasedModel one
    optimizer per phase), the optimizer state restored (every variable equal, each phase
    optimizer's iteration count), equal weights and outputs (:func:`check_model_saving`)."""
    loaded = check_model_saving(model, input_data, tmp_dir, atol, rtol, name="trained")
    assert loaded.optimizer is not None, "the loaded model is not compiled"
    mine, theirs = list(model.optimizer.variables), list(loaded.optimizer.variables)
    assert len(mine) == len(theirs), f"optimizer: {len(mine)} vs {len(theirs)} variables"
    assert_close(mine, theirs, atol, rtol, "optimizer variables")
    if isinstance(model, PhasedModel):
        assert sorted(loaded.optimizers) == sorted(model.optimizers)
        for name, optimizer in loaded.optimizers.items():
            steps = int(ops.convert_to_numpy(model.optimizers[name].iterations))
            assert steps >= 1, f"phase {name!r} never stepped"
            assert int(ops.convert_to_numpy(optimizer.iterations)) == steps, name
    return loaded


# ---------------------------------------------------------------- the entry points
def _run_checks(checks, skip, report):
    """Run ``checks`` (name -> function) in order; ``report[name]`` says what happened."""
    for name, fn in checks.items():
        if name in skip:
            report[name] = f"not run: {skip[name]}"
            continue
        fn()
        report[name] = PASSED
    return report


def _seed() -> None:
    """Same initial weights and dropout masks in every process: a check passes or fails for
    good (an unseeded tiny layer can, rarely, leave a weight without gradient in one step)."""
    from keraslab.engine.seeding import set_seed

    set_seed(0)


def run_layer_test(
    cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    *,
    call_kwargs: Mapping[str, Any] | None = None,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    check_input_gradient: bool = True,
    allow_unchanged: Sequence[str] = (),
    skip: Mapping[str, str] | None = None,
    learning_rate: float = 1e-2,
    jit_compile="auto",
    tmp_dir=None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
) -> dict[str, str]:
    """Run the standard checks on a layer class; returns ``{check: "passed" | "not run: why"}``.

    Each check starts from a fresh ``cls(**init_kwargs)``:

    - ``call``: eager call on ``input_data``, output shapes (``expected_output_shape``), dtype,
      finiteness, weight counts (:func:`check_call`);
    - ``config``: ``get_config``/``from_config`` and ``serialize``/``deserialize`` round trips,
      equal configs and, with the variables copied, equal outputs
      (:func:`check_config_round_trip`);
    - ``saving``: symbolic call (output shapes up to the batch size), then a functional model
      around the layer saved to ``.keras`` and loaded back: equal weights and outputs
      (:func:`check_layer_saving`);
    - ``training``: one Adam step of a small MSE model around the layer; every trainable weight
      (and, with ``check_input_gradient``, every float input's scale) changes
      (:func:`check_layer_training`).

    Args:
        cls: the layer class.
        init_kwargs: dict of constructor arguments, or a callable returning one (when they hold
            layer objects, which must be fresh for every instance).
        input_data: a numpy array (the first call argument), a list/tuple of arrays (ONE call
            argument, e.g. ``[mean, log_var]``), or a dict of arrays (call arguments by name,
            e.g. ``{"x": ..., "context": ..., "padding_mask": ...}``).
        expected_output_shape: shape tuple, or a tuple of them for several outputs.
        call_kwargs: non-tensor call arguments used in every call (``use_causal_mask=True``).
        expected_num_trainable_weights, expected_num_non_trainable_weights: int or None.
        check_input_gradient: bool. Whether the training check expects a gradient at the float
            inputs (False for layers whose output depends on the input's shape only).
        allow_unchanged: substrings of weight paths the training check may leave unchanged.
        skip: ``{check: reason}`` for checks that cannot apply (a reason is required).
        learning_rate, jit_compile: of the training step.
        tmp_dir: where the ``.keras`` files go (a temporary folder inside it).
        atol, rtol: output tolerances.
    """
    _seed()
    skip = _skips(skip, LAYER_CHECKS)

    def fresh():
        return cls(**_kwargs(init_kwargs))

    def call():
        check_call(
            fresh(),
            input_data,
            expected_output_shape,
            call_kwargs,
            expected_num_trainable_weights=expected_num_trainable_weights,
            expected_num_non_trainable_weights=expected_num_non_trainable_weights,
        )

    def config():
        layer = fresh()
        call_object(layer, to_tensors(input_data), call_kwargs)
        check_config_round_trip(layer, input_data, call_kwargs, atol=atol, rtol=rtol)

    def saving():
        check_layer_saving(
            fresh(), input_data, expected_output_shape, call_kwargs, tmp_dir, atol, rtol
        )

    def training():
        check_layer_training(
            fresh(),
            input_data,
            call_kwargs,
            check_input_gradient,
            allow_unchanged,
            learning_rate,
            jit_compile,
        )

    checks = {"call": call, "config": config, "saving": saving, "training": training}
    return _run_checks(checks, skip, {})


def run_model_test(
    cls: type | Callable[..., keras.Model],
    init_kwargs,
    input_data,
    expected_output_shape=None,
    *,
    train_data=None,
    phases: Sequence[str] | None = None,
    loss="mse",
    expected_num_trainable_weights: int | None = None,
    allow_unchanged: Sequence[str] = (),
    skip: Mapping[str, str] | None = None,
    learning_rate: float = 1e-3,
    jit_compile="auto",
    tmp_dir=None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
) -> dict[str, str]:
    """Run the standard checks on a model; returns ``{check: "passed" | "not run: why"}``.

    ``cls`` is a model class or a function that builds a (functional) model, e.g.
    ``build_generator``; the model is called with ``input_data`` as its one argument (a tuple
    stays one tuple: ``Translator((source, target))``). Each check but the last starts from a
    fresh ``cls(**init_kwargs)``:

    - ``call``: eager call, output shapes, dtype, finiteness (:func:`check_call`);
    - ``config``: ``get_config``/``from_config`` (on the model's class) and serialization round
      trips, equal configs, equal outputs with the variables copied
      (:func:`check_config_round_trip`);
    - ``saving``: the untrained model saved to ``.keras`` and loaded back: same class, equal
      weights and outputs (:func:`check_model_saving`);
    - ``training``: one ``train_on_batch`` step, finite logs, every trainable weight changes
      (:func:`check_model_training`);
    - ``trained_saving``: that trained, compiled model saved and loaded back, compiled, with its
      optimizer state (:func:`check_trained_model_saving`).

    Args:
        train_data: ``(x, y)`` of the training step (default: ``input_data`` with ``y=None``
            for a PhasedModel, random MSE targets otherwise), e.g. images for a GAN whose
            ``call`` takes latents.
        phases: phase names of a PhasedModel (one Adam each).
        loss: of a non-phased model's ``compile``.
        skip: ``{check: reason}`` for checks that cannot apply (a reason is required; skipping
            ``training`` needs ``trained_saving`` skipped too).
        Others: as :func:`run_layer_test`.
    """
    _seed()
    skip = _skips(skip, MODEL_CHECKS)
    trained = []

    def fresh():
        return cls(**_kwargs(init_kwargs))

    def call():
        check_call(
            fresh(),
            input_data,
            expected_output_shape,
            unpack_dict=False,
            expected_num_trainable_weights=expected_num_trainable_weights,
        )

    def config():
        model = fresh()
        model(to_tensors(input_data))
        check_config_round_trip(model, input_data, unpack_dict=False, atol=atol, rtol=rtol)

    def saving():
        model = fresh()
        model(to_tensors(input_data))
        check_model_saving(model, input_data, tmp_dir, atol, rtol)

    def training():
        model = fresh()
        check_model_training(
            model, input_data, train_data, phases, loss, allow_unchanged, learning_rate, jit_compile
        )
        trained.append(model)

    def trained_saving():
        check_trained_model_saving(trained[0], input_data, tmp_dir, atol, rtol)

    checks = {
        "call": call,
        "config": config,
        "saving": saving,
        "training": training,
        "trained_saving": trained_saving,
    }
    return _run_checks(checks, skip, {})
