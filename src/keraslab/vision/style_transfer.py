"""Neural style transfer (Gatys, Ecker & Bethge, 2016, "Image Style Transfer Using Convolutional
Neural Networks"): an image optimised so that its features match a content image's at deep
layers and its Gram matrices match a style image's at several layers, plus total variation.

The features come from the ImageNet EfficientNet-Lite0 port
(:func:`keraslab.transfer.efficientnet_lite.efficientnet_lite0_pretrained`), the pretrained
convnet that ships offline; any functional convnet and layer names work through
:func:`style_transfer`'s ``network`` argument. The optimisation runs on the phase engine
(:class:`keraslab.vision.optimize.ImageOptimization`), so on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from keraslab.errors import UserError
from keraslab.vision.objectives import content_loss, gram_matrix, style_loss, total_variation
from keraslab.vision.optimize import ImageOptimization

# EfficientNet-Lite0 activations, early to late (strides 2, 4, 8, 16, 16 at 224 px).
STYLE_LAYERS = (
    "stem_activation",
    "block2a_expand_activation",
    "block3a_expand_activation",
    "block4a_expand_activation",
    "block5a_expand_activation",
)
CONTENT_LAYERS = ("block5a_expand_activation",)


@dataclass
class StyleWeights:
    """Weights of the three terms of the total loss.

    Args:
        content: float. Content-feature mean squared error.
        style: float. Sum over style layers of the Gram-matrix mean squared error.
        tv: float. Total variation of the image.
        style_layers / content_layers: layer names of the feature network.
    """

    content: float = 1.0
    style: float = 100.0
    tv: float = 0.5
    style_layers: tuple[str, ...] = field(default=STYLE_LAYERS)
    content_layers: tuple[str, ...] = field(default=CONTENT_LAYERS)


def feature_layers(network: keras.Model, names) -> keras.Model:
    """``network``'s input mapped to the outputs of the layers ``names`` (a list)."""
    outputs = []
    for name in names:
        try:
            outputs.append(network.get_layer(name).output)
        except ValueError:
            valid = [layer.name for layer in network.layers if "activation" in layer.name]
            raise UserError(
                f"no layer named {name!r} in {network.name}; activation layers are: "
                f"{', '.join(valid[:30])}{', ...' if len(valid) > 30 else ''}."
            ) from None
    return keras.Model(network.inputs[0], outputs, name="style_features")


def lite_preprocess(images):
    """[0, 1] RGB images normalised as EfficientNet-Lite expects (``preprocess`` of 0-255)."""
    from keraslab.transfer.efficientnet_lite import preprocess

    return preprocess(images * 255.0)


def efficientnet_features(size: int) -> tuple[keras.Model, callable]:
    """The ImageNet EfficientNet-Lite0 (no classifier) at ``size`` x ``size``, and its
    preprocessing of [0, 1] RGB images."""
    from keraslab.transfer.efficientnet_lite import efficientnet_lite0_pretrained

    net = efficientnet_lite0_pretrained(include_top=False, input_shape=(size, size, 3))
    return net, lite_preprocess


def style_transfer(
    content: np.ndarray,
    style: np.ndarray,
    steps: int = 400,
    weights: StyleWeights | None = None,
    network: keras.Model | None = None,
    preprocess=None,
    learning_rate: float = 0.02,
    log_every: int = 0,
    callbacks=(),
    verbose: int = 0,
):
    """Optimise an image, starting from ``content``, towards ``style``'s textures.

    Args:
        content: array ``(H, W, 3)`` in [0, 1].
        style: array ``(H', W', 3)`` in [0, 1] (resized to the content's size).
        steps: int. Adam steps.
        weights: :class:`StyleWeights`.
        network: functional convnet holding the weights' layers (default: EfficientNet-Lite0).
        preprocess: callable mapping [0, 1] images to ``network``'s input.
        learning_rate: float. Adam's rate on the image's logits.
        log_every: int. Steps per logged interval (for callbacks and the history).

    Returns:
        ``(image, history)``: ``(H, W, 3)`` float32 in [0, 1]; the history has ``image_loss``
        (the total) and ``content``, ``style``, ``tv`` per logged interval.
    """
    weights = weights or StyleWeights()
    content = np.asarray(content, np.float32)
    style = np.asarray(style, np.float32)
    for what, image in (("content", content), ("style", style)):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise UserError(f"the {what} image must be (height, width, 3), got {image.shape}.")
    if network is None:
        network, preprocess = efficientnet_features(content.shape[0])
    preprocess = preprocess or (lambda x: x)
    names = list(weights.content_layers) + list(weights.style_layers)
    features = feature_layers(network, names)
    nc = len(weights.content_layers)
    if style.shape != content.shape:  # the network's input has the content's size
        style = ops.convert_to_numpy(ops.image.resize(style, content.shape[:2]))
    content_outputs = features(preprocess(content[None]), training=False)
    style_outputs = features(preprocess(style[None]), training=False)
    targets = [ops.convert_to_tensor(ops.convert_to_numpy(t)) for t in content_outputs[:nc]]
    grams = [
        ops.convert_to_tensor(ops.convert_to_numpy(gram_matrix(f))) for f in style_outputs[nc:]
    ]

    def objective(images, outputs):
        c = sum(content_loss(o, t) for o, t in zip(outputs[:nc], targets)) / max(nc, 1)
        s = sum(style_loss(o, g) for o, g in zip(outputs[nc:], grams))
        tv = total_variation(images)
        total = weights.content * c + weights.style * s + weights.tv * tv
        return total, {"content": c, "style": s, "tv": tv}

    model = ImageOptimization(
        features, objective, content[None], preprocess=preprocess,
        metrics=("content", "style", "tv"),
    )  # fmt: skip
    history = model.run(steps, keras.optimizers.Adam(learning_rate), log_every, callbacks, verbose)
    return model.images()[0], history
