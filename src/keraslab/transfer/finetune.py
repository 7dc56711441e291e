"""Transfer learning the way the course teaches it, on any Keras backend.

1. take a pretrained network (:mod:`keraslab.transfer.efficientnet_lite`,
   :mod:`keraslab.transfer.text_encoders`, or your own file through :func:`load_pretrained`);
2. :func:`freeze` it and :func:`add_head` a new classifier; train the head;
3. unfreeze the top blocks and train again at a much lower learning rate, with BatchNorm kept in
   inference mode (:func:`fine_tune` does 2 and 3);

or train only small inserted modules: Houlsby adapters (:func:`insert_adapters`) or LoRA
(:func:`enable_lora`), with the layer norms and the head.

Changing ``trainable`` after ``compile()`` is not seen by Keras's compiled train step (TensorFlow
silently keeps updating the frozen weights, JAX stops with an optimizer error): recompile after
every change. :func:`fine_tune` does; :func:`recompile` does it for a model you compiled yourself.

References: J. Yosinski et al. "How transferable are features in deep neural networks?", NeurIPS
2014; F. Chollet, "Transfer learning & fine-tuning" (keras.io guide); N. Houlsby et al. 2019;
E. Hu et al. "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import keras

from keraslab.errors import UserError
from keraslab.layers.adapters import Adapted, Adapter


def _layers(model) -> list:
    """Every layer inside ``model`` (nested ones too), parents before children."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def set_trainable(layer, value: bool) -> None:
    """``layer.trainable = value``, reaching every sublayer on every backend: on TensorFlow,
    Keras ignores an assignment of the value a layer already has (its auto-tracking returns
    early), so sublayers set differently before (e.g. by ``enable_lora``) would keep their own."""
    layer.trainable = not value
    layer.trainable = value


def _matches(name: str, key: str) -> bool:
    return name == key or name.startswith(key)


def freeze(model, until: str | None = None, keep_batchnorm_frozen: bool = True) -> list[str]:
    """Freeze ``model``'s layers, all of them or those up to ``until``; returns the frozen names.

    Args:
        model: keras.Model. Usually the pretrained base (not the model with the new head).
        until: str or None. None freezes every layer. Otherwise a layer name or name prefix
            (``"block5"``): the layers of ``model.layers`` up to and including the *last* one
            matching it are frozen and the layers after it are made trainable.
        keep_batchnorm_frozen: bool. Keep every BatchNormalization frozen, even above ``until``:
            in Keras 3 a frozen BatchNorm runs in inference mode (its moving statistics are
            used and not updated), which is what fine-tuning on a small data set wants.

    Recompile the model that trains afterwards (:func:`recompile`).

    Example:
        >>> freeze(base)                    # stage 1: everything
        >>> freeze(base, until="block5")    # stage 2: train block6, block7 and the top
    """
    layers = model.layers
    if until is None:
        cut = len(layers) - 1
    else:
        hits = [i for i, layer in enumerate(layers) if _matches(layer.name, until)]
        if not hits:
            raise UserError(f"no layer of {model.name!r} is named {until!r} or starts with it.")
        cut = hits[-1]
    frozen = []
    for i, layer in enumerate(layers):
        set_trainable(layer, i > cut)
        if i <= cut and layer.weights:
            frozen.append(layer.name)
    if keep_batchnorm_frozen:
        _freeze_batchnorm(model)
    return frozen


def _freeze_batchnorm(model) -> None:
    """Every BatchNormalization inside ``model`` frozen, i.e. in inference mode."""
    for layer in _layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            set_trainable(layer, False)


def blocks(model) -> list[str]:
    """The model's blocks in order, as name prefixes for :func:`freeze`'s ``until``.

    Layers named ``block<N><letter>_...`` (keras.applications, our EfficientNet-Lite) give one
    prefix per block (``"block6a"``, ``"block6b"``, ...); otherwise every top-level layer with
    weights is its own block (e.g. each Transformer layer of a keras-hub backbone).
    """
    names = [layer.name for layer in model.layers]
    prefixes = []
    for name in names:
        m = re.match(r"^(block\d+[a-z]?)_", name)
        if m and m.group(1) not in prefixes:
            prefixes.append(m.group(1))
    if prefixes:
        return prefixes
    return [layer.name for layer in model.layers if layer.weights]


def unfreeze_top(model, n_blocks: int, keep_batchnorm_frozen: bool = True) -> list[str]:
    """Make the top ``n_blocks`` of :func:`blocks` (and every layer after them) trainable, the
    rest frozen; returns the names of the frozen layers. ``n_blocks=0`` freezes everything."""
    names = blocks(model)
    if not 0 <= n_blocks <= len(names):
        raise UserError(f"{model.name!r} has {len(names)} blocks; cannot unfreeze {n_blocks}.")
    if n_blocks == 0:
        return freeze(model, keep_batchnorm_frozen=keep_batchnorm_frozen)
    first = names[-n_blocks]
    start = next(i for i, layer in enumerate(model.layers) if _matches(layer.name, first))
    if start == 0:
        for layer in model.layers:
            set_trainable(layer, True)
        frozen = []
    else:
        frozen = freeze(model, until=model.layers[start - 1].name, keep_batchnorm_frozen=False)
    if keep_batchnorm_frozen:
        _freeze_batchnorm(model)
    return frozen


def add_head(
    base,
    num_classes: int,
    dropout: float = 0.2,
    pooling: str = "avg",
    inputs=None,
    name: str = "classifier",
):
    """A new classification head on ``base``: pooling, dropout, ``Dense(num_classes)`` logits.

    The base is called with ``training=False`` (the course's recipe): its BatchNorm and dropout
    stay in inference mode even after its top is unfrozen for fine-tuning.

    Args:
        base: keras.Model. Outputs a feature map ``(batch, h, w, c)``, a sequence
            ``(batch, length, d)`` or a vector ``(batch, d)``.
        num_classes: int. Logits out (use ``from_logits=True`` losses).
        dropout: float. Before the new Dense layer.
        pooling: str. ``"avg"`` or ``"max"`` over the spatial / sequence axes.
        inputs: optional input tensor(s) (default: new ``keras.Input``s like the base's).
        name: str. Of the new model; the Dense layer is ``"<name>_logits"``.

    Example:
        >>> model = add_head(efficientnet_lite0(include_top=False), num_classes=10)
    """
    if num_classes < 2:
        raise UserError(f"a classification head needs at least 2 classes, got {num_classes}.")
    if inputs is None:
        struct = base.input  # a tensor, a list or a dict (e.g. token_ids / padding_mask / ...)

        def like(t, name=None):
            return keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name)

        if isinstance(struct, dict):
            inputs = {k: like(t, k) for k, t in struct.items()}
        elif isinstance(struct, (list, tuple)):
            inputs = [like(t) for t in struct]
        else:
            inputs = like(struct)
    x = base(inputs, training=False)
    # (max, average) pooling over the spatial axes of a feature map or the steps of a sequence
    pools = {
        4: (keras.layers.GlobalMaxPooling2D, keras.layers.GlobalAveragePooling2D),
        3: (keras.layers.GlobalMaxPooling1D, keras.layers.GlobalAveragePooling1D),
    }
    if len(x.shape) in pools:
        x = pools[len(x.shape)][pooling == "avg"](name=f"{name}_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    logits = keras.layers.Dense(num_classes, name=f"{name}_logits")(x)
    return keras.Model(inputs, logits, name=name)


def recompile(model) -> None:
    """Compile ``model`` again with its own compile settings and a fresh optimizer, so that a
    change of ``trainable`` reaches the train step (needed on every backend)."""
    if not getattr(model, "compiled", False):
        return
    model.compile_from_config(model.get_compile_config())


def trainable_count(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return int(trainable), int(sum(math.prod(w.shape) for w in model.weights))


def fine_tune(
    model,
    base,
    train_data,
    validation_data=None,
    *,
    head_epochs: int = 5,
    fine_tune_epochs: int = 5,
    unfreeze_blocks: int = 2,
    head_learning_rate: float = 1e-3,
    fine_tune_learning_rate: float = 1e-5,
    loss=None,
    metrics=("accuracy",),
    callbacks=None,
    verbose: int | str = "auto",
    **fit_kwargs,
) -> dict:
    """The course's two stages: train the head on a frozen base, then unfreeze the base's top
    ``unfreeze_blocks`` blocks (BatchNorm stays frozen) and train at a low learning rate.

    Args:
        model: keras.Model. ``base`` with a head (e.g. from :func:`add_head`).
        base: keras.Model. The pretrained part of ``model``.
        train_data, validation_data: what ``model.fit`` takes (a dataset, a PyDataset or
            ``(x, y)`` tuples; with arrays pass ``batch_size=`` through ``fit_kwargs``).
        head_epochs, fine_tune_epochs: int. Epochs of each stage (0 skips the stage).
        unfreeze_blocks: int. How many of the base's top :func:`blocks` stage 2 trains.
        head_learning_rate, fine_tune_learning_rate: float. Adam learning rates of the stages.
        loss: a Keras loss (default: sparse categorical cross-entropy on logits).
        metrics, callbacks, verbose, fit_kwargs: passed to ``compile`` / ``fit``.

    Returns:
        dict with the ``history`` of each stage (``"head"``, ``"fine_tune"``) and the trainable
        parameter counts of each.

    Example:
        >>> model = add_head(base, num_classes=10)
        >>> fine_tune(model, base, (x, y), (xv, yv), batch_size=32, unfreeze_blocks=2)
    """
    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    out: dict = {}
    stages = [
        ("head", head_epochs, head_learning_rate, lambda: freeze(base)),
        ("fine_tune", fine_tune_epochs, fine_tune_learning_rate,
         lambda: unfreeze_top(base, unfreeze_blocks)),
    ]  # fmt: skip
    epoch = 0
    for stage, epochs, lr, set_trainable in stages:
        if epochs <= 0:
            continue
        set_trainable()
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=list(metrics or []))
        history = model.fit(
            *(train_data if isinstance(train_data, tuple) else (train_data,)),
            validation_data=validation_data,
            epochs=epoch + epochs,
            initial_epoch=epoch,
            callbacks=callbacks,
            verbose=verbose,
            **fit_kwargs,
        )
        epoch += epochs
        out[stage] = {"history": history.history, "trainable_parameters": trainable_count(model)}
    return out


# --- adapters and LoRA --------------------------------------------------------------------------

# Where the residual branches of known Transformer blocks end: attribute names of the sublayers
# whose output is added back to the block's input (the adapter goes between the two).
_BLOCK_SUBLAYERS = {
    # keraslab.layers.transformer
    "TransformerEncoder": ("attention", "ffn"),
    "TransformerDecoder": ("self_attention", "cross_attention_layer", "ffn"),
}
# keras-hub's TransformerEncoder (BERT, MiniLM): dropout after each sublayer, then the residual.
_KERAS_HUB_SUBLAYERS = ("_self_attention_dropout", "_feedforward_dropout")


def _hidden_dim(block) -> int:
    for w in block.weights:
        if "gamma" in w.path or "scale" in w.path:  # a layer norm's scale: the model width
            return int(w.shape[-1])
    raise UserError(f"cannot find the width of {block.name!r} (no layer norm inside).")


def insert_adapters(model, bottleneck: int = 64, after: list[str] | None = None, head=None):
    """Put Houlsby adapters into ``model`` and make only adapters, layer norms and the head
    trainable. Returns the model to train (the same object for Transformers; a rebuilt
    functional model when ``after`` names conv layers).

    - Transformer blocks (keraslab's and keras-hub's ``TransformerEncoder``): an adapter after
      the attention and after the feed-forward sublayer of every block, before the residual
      additions, as in the paper (figure 2).
    - ``after``: names (or prefixes) of layers of a functional model (e.g. the last layer of each
      conv block, ``["block6a_project_bn", ...]``) to follow with an adapter on the channel axis.

    Args:
        model: keras.Model. The full model, head included, already built.
        bottleneck: int. Adapter width.
        after: list of str or None. Conv layers to follow with adapters (functional models).
        head: list of layer names that stay trainable (default: the model's last layer).

    Example:
        >>> model = insert_adapters(add_head(backbone_model, 3), bottleneck=64)
        >>> model.compile(...)  # after: the trainable set changed
    """
    if after:
        model = _adapters_after(model, after, bottleneck)
    inserted = []
    for layer in _layers(model):
        kind = type(layer).__name__
        if kind in _BLOCK_SUBLAYERS and "keraslab" in type(layer).__module__:
            names = [n for n in _BLOCK_SUBLAYERS[kind] if getattr(layer, n, None) is not None]
        elif kind == "TransformerEncoder" and "keras_hub" in type(layer).__module__:
            names = list(_KERAS_HUB_SUBLAYERS)
        else:
            continue
        dim = _hidden_dim(layer)
        for attr in names:
            inner = getattr(layer, attr)
            if isinstance(inner, Adapted):
                continue
            adapter = Adapter(bottleneck, name=f"{layer.name}_{attr.strip('_')}_adapter")
            adapter.build((None, dim))
            _replace_sublayer(layer, attr, Adapted(inner, adapter))
            inserted.append(adapter.name)
    if not inserted and not after:
        raise UserError(
            "no Transformer block found to put adapters into; for a conv network name the "
            "layers to follow with adapters (after=[...])."
        )
    _train_only(
        model, lambda layer: isinstance(layer, (Adapter, keras.layers.LayerNormalization)), head
    )
    return model


def _replace_sublayer(layer, attr: str, new) -> None:
    """Swap a built layer's sublayer (Keras locks a built layer's state; unlock for this)."""
    tracker = getattr(layer, "_tracker", None)
    locked = tracker is not None and tracker.locked
    if locked:
        tracker.unlock()
    try:
        setattr(layer, attr, new)
    finally:
        if locked:
            tracker.lock()


def _adapters_after(model, after: list[str], bottleneck: int):
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise UserError("adapters after named layers need a functional model.")
    names = {layer.name for layer in model.layers if any(_matches(layer.name, a) for a in after)}
    if not names:
        raise UserError(f"no layer of {model.name!r} matches {after!r}.")

    def call(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        if layer.name in names:
            out = Adapter(bottleneck, name=f"{layer.name}_adapter")(out)
        return out

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return clone


def _train_only(model, keep, head) -> None:
    """Freeze every weight of ``model`` except those of layers where ``keep(layer)`` is true and
    of the ``head`` layers (default: the last layer). BatchNorm layers are frozen, i.e. run in
    inference mode."""
    set_trainable(model, True)
    for v in model.weights:
        v.trainable = False
    head = head or [model.layers[-1].name]
    for layer in _layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            set_trainable(layer, False)
        elif keep(layer) or layer.name in head:
            for v in layer.weights:
                v.trainable = True


def enable_lora(model, rank: int = 4, targets=("query", "value"), head=None) -> list[str]:
    """LoRA on the ``Dense`` / ``EinsumDense`` layers named in ``targets`` (by default the
    attention's query and value projections, as in the LoRA paper), through Keras's own
    ``layer.enable_lora(rank)``: the kernel stays frozen and a low-rank ``A·B`` (B starting at
    zero) is trained. Everything else is frozen except layer norms and the head. Returns the
    paths of the layers that got LoRA.

    Example:
        >>> enable_lora(model, rank=4)   # then compile and fit
    """
    lora = []
    for layer in _layers(model):
        if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)) and any(
            _matches(layer.name, t) or layer.name.endswith(t) for t in targets
        ):
            if not getattr(layer, "lora_enabled", False):
                layer.enable_lora(rank)
            lora.append(layer)
    if not lora:
        raise UserError(f"no Dense/EinsumDense layer named like {list(targets)} for LoRA.")
    _train_only(model, lambda layer: isinstance(layer, keras.layers.LayerNormalization), head)
    for layer in lora:
        layer.lora_kernel_a.trainable = True
        layer.lora_kernel_b.trainable = True
    return [layer.path for layer in lora]


# --- users' own weight files --------------------------------------------------------------------


def _legacy_layers(path: Path) -> list[tuple[str, list[tuple]]] | None:
    """(layer name, weight shapes) of a legacy Keras 2 ``.h5`` file (keras.applications'
    downloads), in file order; None for a Keras 3 ``.weights.h5`` file."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError:
        raise UserError(f"{path} is not an HDF5 weights file.") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            return None
        out = []
        for name in root.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else str(name)
            names = root[name].attrs.get("weight_names", [])
            if len(names):
                out.append((name, [tuple(root[name][w].shape) for w in names]))
        return out


def _shapes(shapes) -> str:
    return ", ".join("×".join(map(str, s)) for s in shapes) or "none"


def check_weights_file(model, path) -> None:
    """For a legacy ``.h5`` file: raise a one-line :class:`UserError` naming the first layer
    whose weight shapes differ from ``model``'s (layers with weights are matched in order, as
    Keras loads them). Keras 3 files are checked while loading (:func:`load_pretrained`)."""
    path = Path(path)
    theirs = _legacy_layers(path)
    if theirs is None:
        return
    mine = [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]
    mine = [(n, s) for n, s in mine if s]
    for (name, shapes), (file_name, file_shapes) in zip(mine, theirs):
        if shapes != file_shapes:
            raise UserError(
                f"{path.name} does not fit this model: layer {name!r} has weights "
                f"{_shapes(shapes)} but the file's layer {file_name!r} has {_shapes(file_shapes)} "
                "(weights for another architecture or input size?)."
            )
    if len(mine) != len(theirs):
        raise UserError(
            f"{path.name} holds weights for {len(theirs)} layers but the model has {len(mine)} "
            "layers with weights (weights for another architecture?)."
        )


def load_pretrained(path, model=None):
    """Load a user's own pretrained network: a whole ``.keras`` model (returned), or a
    ``.weights.h5`` / legacy ``.h5`` weights file into ``model`` (e.g. Xception weights copied
    from another machine into ``keras.applications.Xception(weights=None)``). A file for
    another architecture gives one line naming the first layer that differs.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist.")
    if path.suffix == ".keras":
        try:
            return keras.saving.load_model(path)
        except Exception as e:  # noqa: BLE001 - a damaged or foreign file: say so in one line
            raise UserError(f"cannot load {path}: {str(e).splitlines()[0]}") from None
    if model is None:
        raise UserError(f"{path.name} holds weights only: build the model, then load them into it.")
    check_weights_file(model, path)
    before = model.get_weights()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except ValueError as e:
        model.set_weights(before)  # Keras loads what fits before it fails: undo that
        raise UserError(_keras3_mismatch(path, str(e))) from None
    return model


def _keras3_mismatch(path: Path, message: str) -> str:
    """One line from Keras's multi-line load error: the first layer that failed and why."""
    layer = re.search(r"<\w+ name=([^,>]+)", message)
    # "variable.shape=(3, 6), Received: value.shape=(3, 5)" (torch: "torch.Size([3, 5])")
    shapes = re.search(
        r"variable\.shape=\(([\d, ]*)\), Received: value\.shape=\D*([\d, ]*)", message
    )
    where = f"layer {layer.group(1)!r}" if layer else "a layer"
    if shapes:
        mine, theirs = (f"({s.strip().rstrip(',')})" for s in shapes.groups())
        why = f"expects weights of shape {mine} but the file has {theirs}"
    else:
        why = message.strip().splitlines()[0].rstrip(".:")
    return (
        f"{path.name} does not fit this model: {where} {why} "
        "(weights for another architecture or input size?)."
    )
