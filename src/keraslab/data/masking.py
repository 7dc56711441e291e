"""BERT's masked-LM corruption of token ids, in numpy (seeded; Keras-free)."""

from __future__ import annotations

import numpy as np


def mask_tokens(
    token_ids,
    rng: np.random.Generator,
    mask_id: int,
    vocabulary_size: int,
    special_ids=(0, 1, 2, 3),
    rate: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
):
    """BERT's masked-LM corruption of a ``(batch, length)`` id array (numpy, seeded).

    Each non-special token is chosen with probability ``rate``. A chosen token becomes
    ``mask_id`` with probability ``mask_fraction``, a random non-special token with probability
    ``random_fraction``, and stays otherwise.

    Returns:
        ``(inputs, labels, weights)``: the corrupted ids; the original ids (the targets); and
        ``1.0`` at chosen positions, ``0.0`` elsewhere (the loss counts chosen positions only).
    """
    if not 0 < rate < 1 or mask_fraction + random_fraction > 1:
        raise ValueError("rate must be in (0, 1) and mask_fraction + random_fraction <= 1.")
    ids = np.asarray(token_ids, "int32")
    special = np.isin(ids, np.asarray(list(special_ids) + [mask_id]))
    chosen = (rng.random(ids.shape) < rate) & ~special
    action = rng.random(ids.shape)
    to_mask = chosen & (action < mask_fraction)
    to_random = chosen & (action >= mask_fraction) & (action < mask_fraction + random_fraction)
    ordinary = np.setdiff1d(np.arange(vocabulary_size), np.asarray([*special_ids, mask_id]))
    inputs = ids.copy()
    inputs[to_mask] = mask_id
    inputs[to_random] = rng.choice(ordinary, size=int(to_random.sum()))
    return inputs, ids.copy(), chosen.astype("float32")


def gather_masked(inputs, labels, weights, max_predictions: int):
    """Keep only the chosen positions, at most ``max_predictions`` per row (BERT's
    ``masked_lm_positions``): the MLM head then runs on those rows instead of every token.

    Chosen positions beyond ``max_predictions`` are un-chosen (their original token restored in
    ``inputs``). Rows with fewer are padded with position 0 and weight 0.

    Returns:
        ``(inputs, positions, labels, weights)``, the last three ``(batch, max_predictions)``.
    """
    inputs = np.array(inputs, "int32")
    labels = np.asarray(labels, "int32")
    weights = np.asarray(weights, "float32")
    n = len(inputs)
    positions = np.zeros((n, max_predictions), "int32")
    out_labels = np.zeros((n, max_predictions), "int32")
    out_weights = np.zeros((n, max_predictions), "float32")
    for r in range(n):
        chosen = np.flatnonzero(weights[r] > 0)
        inputs[r, chosen[max_predictions:]] = labels[r, chosen[max_predictions:]]
        chosen = chosen[:max_predictions]
        positions[r, : len(chosen)] = chosen
        out_labels[r, : len(chosen)] = labels[r, chosen]
        out_weights[r, : len(chosen)] = weights[r, chosen]
    return inputs, positions, out_labels, out_weights
