"""What a convnet's filters respond to: filter and class visualisation by gradient ascent on the
input, and saliency maps (Simonyan, Vedaldi & Zisserman, 2014, "Deep Inside Convolutional
Networks"; Olah et al., 2017, "Feature Visualization", Distill).

``visualize_filters(model, "block2a_expand_conv", n=16)`` returns one image per filter, each the
input that maximises that filter's mean activation, found by gradient ascent from a grey image
with a little noise (decorrelated colours and jitter as regularisers). Any functional Keras
model works, or a functional network nested inside one (a GAN's discriminator, the EfficientNet
of a fine-tuned classifier): :func:`feature_network` finds the layer.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from keraslab.errors import UserError
from keraslab.vision.objectives import filter_activation
from keraslab.vision.optimize import ImageOptimization, NormalizedAscent

CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)


def functional_networks(model) -> list[keras.Model]:
    """``model`` and every functional model nested in it (attributes and layers), outer first."""
    found, seen = [], set()

    def visit(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, keras.Model):
            try:  # functional and Sequential models have a graph from inputs to outputs
                if obj.inputs and obj.outputs:
                    found.append(obj)
            except (AttributeError, ValueError):  # a subclassed model: look inside
                pass
        if isinstance(obj, keras.layers.Layer):
            for layer in getattr(obj, "layers", []) or []:
                visit(layer)
            for value in list(vars(obj).values()):
                if isinstance(value, keras.Model):
                    visit(value)

    visit(model)
    return found


def layer_names(model, kinds: tuple = CONV_TYPES) -> list[str]:
    """Names of the layers of ``kinds`` (default: convolutions) in ``model`` and its nested
    functional networks, in order."""
    names = []
    for net in functional_networks(model):
        names += [layer.name for layer in net.layers if isinstance(layer, kinds)]
    return list(dict.fromkeys(names))


def feature_network(model, layer: str) -> tuple[keras.Model, keras.layers.Layer]:
    """A model from an image input to the output of the layer named ``layer``.

    Args:
        model: a Keras model, or an object holding functional models (e.g. a GAN).
        layer: str. The layer's name.

    Returns:
        ``(network, layer)``: the network maps the innermost enclosing functional model's input
        to that layer's output.

    Raises:
        UserError: no such layer (the message lists the convolution layers), or its input is
            not an image.
    """
    for net in reversed(functional_networks(model)):  # innermost first: its input is the image
        try:
            found = net.get_layer(layer)
        except ValueError:
            continue
        shape = net.inputs[0].shape
        if len(net.inputs) != 1 or len(shape) != 4:
            raise UserError(
                f"layer {layer!r} is in a network whose input is not one image batch "
                f"(inputs {[tuple(i.shape) for i in net.inputs]})."
            )
        return keras.Model(net.inputs[0], found.output, name=f"{layer}_features"), found
    valid = layer_names(model)
    shown = ", ".join(valid[:40]) + (f", ... ({len(valid)} in all)" if len(valid) > 40 else "")
    raise UserError(f"no layer named {layer!r}; the convolution layers are: {shown or 'none'}.")


def output_network(model) -> keras.Model:
    """The outermost functional network of ``model``, from its first input to its first
    output (a classifier's image -> logits)."""
    nets = functional_networks(model)
    if not nets:
        raise UserError(f"{type(model).__name__} holds no functional Keras network.")
    return keras.Model(nets[0].inputs[0], nets[0].outputs[0])


def _image_size(network: keras.Model, size: int | None) -> tuple[int, int]:
    h, w = network.inputs[0].shape[1:3]
    if size:
        return size, size
    return int(h or 128), int(w or 128)


def _start(n: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 + 0.05 * rng.standard_normal((n, h, w, 3))).clip(0.01, 0.99).astype(np.float32)


def _as_rgb(network: keras.Model, preprocess):
    """Our images are RGB in [0, 1]: a grayscale network sees their mean."""
    channels = network.inputs[0].shape[-1]
    if channels == 3:
        return preprocess
    if channels != 1:
        raise UserError(f"the network takes {channels}-channel images; only 1 or 3 are drawn.")
    return lambda x: preprocess(ops.mean(x, axis=-1, keepdims=True))


def maximize(
    network: keras.Model,
    score: Callable,
    n: int,
    size: tuple[int, int],
    preprocess: Callable | None = None,
    steps: int = 256,
    learning_rate: float = 0.05,
    optimizer: str = "adam",
    decorrelate: bool = True,
    parameterization: str = "fourier",
    jitter: int = 4,
    log_every: int = 0,
    seed: int = 0,
    callbacks=(),
    verbose: int = 0,
):
    """Gradient ascent on ``n`` images to maximise ``score(outputs) -> (N,)``.

    Returns:
        ``(images, history)``: images ``(n, H, W, 3)`` float32 in [0, 1], and the Keras History
        whose ``"score"`` is the mean score over each logged interval.
    """
    if optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate)
    elif optimizer == "normalized":
        opt = NormalizedAscent(learning_rate)
    else:
        raise UserError(f"optimizer must be 'adam' or 'normalized', got {optimizer!r}.")

    def objective(images, outputs):
        s = score(outputs)
        return -ops.mean(s), {"score": ops.mean(s)}

    opt_model = ImageOptimization(
        network,
        objective,
        _start(n, size[0], size[1], seed),
        preprocess=_as_rgb(network, preprocess or (lambda x: x)),
        metrics=("score",),
        decorrelate=decorrelate,
        parameterization=parameterization,
        jitter=jitter,
        seed=seed,
    )
    history = opt_model.run(steps, opt, log_every, callbacks, verbose)
    return opt_model.images(), history


def visualize_filters(
    model,
    layer: str,
    filters: list[int] | None = None,
    n: int = 16,
    size: int | None = None,
    preprocess: Callable | None = None,
    border: int | None = None,
    **kwargs,
):
    """Images that maximise filters of ``layer`` (one image per filter), and their history.

    Args:
        model: a Keras model (or an object holding functional models, e.g. a GAN).
        layer: str. A convolution layer's name.
        filters: list of int. Which filters (default: the first ``n``).
        n: int. How many filters when ``filters`` is not given.
        size: int. Side of the images (default: the network's input size, else 128).
        preprocess: callable. Maps [0, 1] RGB images to the network's input.
        border: int. Positions left out at each edge of the feature map (default: 1/8 of it).
        **kwargs: passed to :func:`maximize` (steps, learning_rate, optimizer, decorrelate,
            parameterization, jitter, log_every, seed, callbacks, verbose).

    Returns:
        ``(images, history)`` as :func:`maximize`; the images without the ignored border.
    """
    network, found = feature_network(model, layer)
    if not isinstance(found, CONV_TYPES):
        valid = layer_names(model)
        raise UserError(
            f"{layer!r} is a {type(found).__name__} layer, not a convolution: filters are drawn "
            f"for convolution layers ({', '.join(valid[:8])}{', ...' if len(valid) > 8 else ''})."
        )
    channels = int(network.output.shape[-1])
    chosen = list(range(min(n, channels))) if filters is None else [int(f) for f in filters]
    bad = [f for f in chosen if not 0 <= f < channels]
    if bad:
        raise UserError(f"layer {layer!r} has filters 0..{channels - 1}; got {bad[0]}.")
    h, w = _image_size(network, size)
    out_h = network.compute_output_shape((1, h, w, int(network.inputs[0].shape[-1])))[1]
    b = max(0, (out_h // 8) if border is None else int(border))
    b = b if out_h - 2 * b >= 1 else 0
    index = ops.convert_to_tensor(np.array(chosen, np.int32))
    images, history = maximize(
        network,
        lambda outputs: filter_activation(outputs, index, b),
        len(chosen),
        (h, w),
        preprocess,
        **kwargs,
    )
    crop = b * (h // max(out_h, 1))  # the edge the objective ignored stays grey: cut it off
    if crop and h - 2 * crop >= 8:
        images = images[:, crop:-crop, crop:-crop]
    return images, history


def visualize_class(model, class_index: int, n: int = 1, size: int | None = None,
                    preprocess: Callable | None = None, layer: str | None = None, **kwargs):  # fmt: skip
    """Images that maximise one output logit (class visualisation, Simonyan et al. 2014).

    Args:
        model: a functional Keras model whose output (or ``layer``'s output) is ``(N, classes)``
            logits.
        class_index: int. The class.
        n: int. Images (different random starts).
        layer: str. A dense layer to read logits from (default: the model's output).
    """
    if layer is None:
        network = output_network(model)
    else:
        network, _ = feature_network(model, layer)
    if len(network.output.shape) != 2:
        raise UserError(
            f"class visualisation needs (N, classes) outputs; this one is {network.output.shape}."
        )
    classes = int(network.output.shape[-1])
    if not 0 <= class_index < classes:
        raise UserError(f"--class must be in 0..{classes - 1}, got {class_index}.")
    h, w = _image_size(network, size)
    return maximize(network, lambda logits: logits[:, class_index], n, (h, w), preprocess, **kwargs)


def saliency(network: keras.Model, images, class_index: int | None = None, preprocess=None):
    """Saliency maps: ``|d score / d pixel|``, the maximum over colour channels.

    Args:
        network: keras.Model. Images -> ``(N, classes)`` logits.
        images: array ``(N, H, W, C)``, in whatever ``preprocess`` takes.
        class_index: int. The class whose score is differentiated (default: each image's top
            class).
        preprocess: callable. Applied to the images before the network (differentiated through).

    Returns:
        ``(maps, classes, gradients)``: maps ``(N, H, W)`` float32, the class of each image, and
        the raw gradients ``(N, H, W, C)``.
    """
    from keraslab.engine import grad

    preprocess = preprocess or (lambda x: x)
    x = ops.convert_to_tensor(np.asarray(images, np.float32))
    logits = ops.convert_to_numpy(network(preprocess(x), training=False))
    if class_index is None:
        classes = logits.argmax(axis=-1).astype(np.int32)
    else:
        if not 0 <= class_index < logits.shape[-1]:
            raise UserError(f"--class must be in 0..{logits.shape[-1] - 1}, got {class_index}.")
        classes = np.full(len(logits), class_index, np.int32)
    onehot = ops.convert_to_tensor(np.eye(logits.shape[-1], dtype=np.float32)[classes])
    g = grad(lambda t: ops.sum(network(preprocess(t), training=False) * onehot, axis=-1), x)
    g = ops.convert_to_numpy(g)
    return np.abs(g).max(axis=-1), classes, g
