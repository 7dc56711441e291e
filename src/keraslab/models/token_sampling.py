"""Next-token sampling for language models: temperature, top-k and top-p (nucleus).

Plain numpy on the logits of the last position, so it is the same on every backend and cheap next
to the network. A ``numpy.random.Generator`` makes every draw reproducible from a seed.

References: A. Fan et al. "Hierarchical Neural Story Generation" (top-k), ACL 2018;
A. Holtzman et al. "The Curious Case of Neural Text Degeneration" (top-p), ICLR 2020.
"""

from __future__ import annotations

import numpy as np


def filter_logits(
    logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> np.ndarray:
    """Log-probabilities to sample from: ``-inf`` outside the kept tokens, renormalised.

    Args:
        logits: ``(batch, vocabulary)`` array.
        temperature: float > 0. Divides the logits (below 1: sharper; above 1: flatter).
        top_k: int. Keep the ``k`` most likely tokens of each row (ties at the k-th value kept
            by index order, so exactly ``k`` survive).
        top_p: float in (0, 1]. Keep the smallest set of most likely tokens whose probability
            reaches ``p`` (always at least the most likely one).

    Returns:
        ``(batch, vocabulary)`` float64 log-probabilities.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use greedy decoding for 0), got {temperature}.")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}.")
    x = np.asarray(logits, dtype=np.float64) / temperature
    x = x - x.max(axis=-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    keep = np.ones_like(logp, dtype=bool)
    order = np.argsort(-logp, axis=-1, kind="stable")  # most likely first
    rows = np.arange(len(logp))[:, None]
    if top_k is not None and top_k < logp.shape[-1]:
        keep[rows, order[:, top_k:]] = False
    if top_p is not None and top_p < 1:
        sorted_p = np.exp(np.take_along_axis(logp, order, axis=-1))
        before = np.cumsum(sorted_p, axis=-1) - sorted_p  # mass of the tokens ranked above
        keep[rows, order] &= before < top_p  # the first token always has before == 0
    out = np.where(keep, logp, -np.inf)
    return out - np.log(np.exp(out).sum(axis=-1, keepdims=True))


def sample_next(
    logits,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """One token id per row, drawn from :func:`filter_logits`; ``temperature=0`` is greedy."""
    logits = np.asarray(logits)
    if temperature == 0:
        return logits.argmax(axis=-1).astype("int32")
    p = np.exp(filter_logits(logits, temperature, top_k, top_p))
    u = rng.random((len(p), 1))
    # Inverse-CDF draw: the first token whose cumulative probability passes u. Zero-probability
    # tokens never are (the sum does not grow there), except past the end when rounding leaves
    # the total just below u: then take the last kept token.
    idx = (np.cumsum(p, axis=-1) < u).sum(axis=-1)
    last_kept = p.shape[-1] - 1 - np.argmax(p[:, ::-1] > 0, axis=-1)
    return np.minimum(idx, last_kept).astype("int32")
