"""Losses over images and feature maps for optimising an input: Gram matrices, the style and
content losses of neural style transfer, total variation, and a filter's mean activation.

Everything is written in ``keras.ops``, so the engine differentiates it on any backend.
Feature maps are channels last: ``(N, H, W, C)``.
"""

from __future__ import annotations

from keras import ops


def gram_matrix(features):
    """Channel correlations of feature maps, ``G[c, d] = sum_ij F[i, j, c] F[i, j, d] / (H W)``.

    Gatys, Ecker & Bethge (2016), "Image Style Transfer Using Convolutional Neural Networks"
    (eq. 3), normalised by the number of positions so that layers of different sizes weigh
    alike.

    Args:
        features: tensor ``(N, H, W, C)``.

    Returns:
        A tensor ``(N, C, C)``.

    Example:
        >>> gram_matrix(ops.ones((1, 2, 2, 3)))[0]     # every entry 1.0
    """
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[-1]))
    positions = ops.cast(ops.shape(flat)[1], features.dtype)
    return ops.einsum("npc,npd->ncd", flat, flat) / positions


def style_loss(features, target_gram):
    """Mean squared difference of ``gram_matrix(features)`` and a target Gram matrix.

    Args:
        features: tensor ``(N, H, W, C)``. The image's features at one layer.
        target_gram: tensor ``(N or 1, C, C)``. The style image's Gram matrix at that layer.

    Returns:
        A scalar; 0 when the image's Gram matrix equals the target's.
    """
    return ops.mean(ops.square(gram_matrix(features) - target_gram))


def content_loss(features, target):
    """Mean squared difference of two feature maps (Gatys et al., eq. 1, as a mean)."""
    return ops.mean(ops.square(features - target))


def total_variation(images):
    """Mean absolute difference of neighbouring pixels, down and across: penalises noise.

    Args:
        images: tensor ``(N, H, W, C)``.

    Returns:
        A scalar; 0 for a constant image.
    """
    down = images[:, 1:, :, :] - images[:, :-1, :, :]
    across = images[:, :, 1:, :] - images[:, :, :-1, :]
    return ops.mean(ops.abs(down)) + ops.mean(ops.abs(across))


def filter_activation(features, filters, border: int = 0):
    """Mean activation of one filter per image: image ``i`` scores ``features[i, ..., filters[i]]``.

    Args:
        features: tensor ``(N, H, W, C)``.
        filters: int tensor or list ``(N,)``. The filter (channel) of each image.
        border: int. Rows and columns left out at each edge (padding artefacts live there).

    Returns:
        A tensor ``(N,)`` of mean activations over the kept positions.
    """
    features = ops.convert_to_tensor(features)
    if border:
        features = features[:, border:-border, border:-border, :]
    onehot = ops.one_hot(ops.convert_to_tensor(filters, "int32"), ops.shape(features)[-1])
    chosen = ops.sum(features * ops.cast(onehot, features.dtype)[:, None, None, :], axis=-1)
    return ops.mean(chosen, axis=(1, 2))
