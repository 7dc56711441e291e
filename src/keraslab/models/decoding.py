"""Greedy and beam-search decoding for any autoregressive model, batched.

The model side is one function, ``step(tokens, state) -> (log_probs, state)``: given every row's
tokens so far (``(rows, t)`` int32 numpy, starting with ``[START]``) it returns the log-probabilities
of the next token (``(rows, vocabulary)`` numpy) and its updated state (e.g. a key/value cache;
``None`` for a model that re-reads the whole prefix). Beam search also needs
``reorder(state, rows)``, which keeps the given rows of the state (beams are flattened into rows).
The bookkeeping here is plain numpy, so it is the same on every backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def ids_until(rows, stop_ids) -> list[list[int]]:
    """Each row's token ids as Python ints, up to (not including) its first id in ``stop_ids``
    (``None`` entries are ignored): generated tokens without ``[END]`` and padding."""
    stops = {int(s) for s in stop_ids if s is not None}
    out = []
    for row in rows:
        ids = []
        for t in row:
            if int(t) in stops:
                break
            ids.append(int(t))
        out.append(ids)
    return out


def length_penalty(length, alpha: float):
    """GNMT length normalisation ``((5 + length) / 6) ** alpha`` (Wu et al. 2016, eq. 14)."""
    return ((5.0 + np.asarray(length, "float64")) / 6.0) ** alpha


def greedy_search(
    step: Callable,
    state,
    batch_size: int,
    start_id: int,
    end_id: int,
    max_length: int,
    pad_id: int = 0,
) -> np.ndarray:
    """Most likely next token at every step; stops when every row has produced ``end_id``.

    Returns:
        ``(batch_size, <= max_length)`` int32 tokens after ``[START]``, padded after ``[END]``.
    """
    tokens = np.full((batch_size, 1), start_id, dtype="int32")
    done = np.zeros(batch_size, bool)
    for _ in range(max_length):
        log_probs, state = step(tokens, state)
        nxt = np.argmax(log_probs, axis=-1).astype("int32")
        nxt = np.where(done, pad_id, nxt)
        tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
        done |= nxt == end_id
        if done.all():
            break
    return tokens[:, 1:]


def beam_search(
    step: Callable,
    state,
    reorder: Callable,
    batch_size: int,
    start_id: int,
    end_id: int,
    max_length: int,
    beam_width: int = 4,
    alpha: float = 0.6,
    pad_id: int = 0,
) -> np.ndarray:
    """Keep the ``beam_width`` best partial outputs of each sentence; return the best finished.

    ``state`` must already hold ``batch_size * beam_width`` rows (row ``b * beam_width + j`` is
    beam ``j`` of sentence ``b``). A beam that produced ``end_id`` keeps its score and only
    extends with padding. The winner maximises ``log p / length_penalty(length, alpha)``;
    ``alpha = 0`` ranks by raw log-probability. With ``beam_width = 1`` this is greedy search.

    Returns:
        ``(batch_size, <= max_length)`` int32 tokens after ``[START]``, padded after ``[END]``.
    """
    b, w = batch_size, beam_width
    tokens = np.full((b * w, 1), start_id, dtype="int32")
    scores = np.full((b, w), -np.inf)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    done = np.zeros(b * w, bool)
    lengths = np.zeros(b * w, "int64")  # tokens produced, [END] included
    for _ in range(max_length):
        log_probs, state = step(tokens, state)
        log_probs = np.asarray(log_probs, "float64")
        vocab = log_probs.shape[-1]
        # Finished beams: one continuation (padding) at no cost.
        finished_row = np.full(vocab, -np.inf)
        finished_row[pad_id] = 0.0
        log_probs = np.where(done[:, None], finished_row[None, :], log_probs)
        total = scores[:, :, None] + log_probs.reshape(b, w, vocab)
        flat = total.reshape(b, w * vocab)
        best = np.argsort(-flat, axis=1, kind="stable")[:, :w]  # (b, w)
        beam, token = best // vocab, (best % vocab).astype("int32")
        rows = (np.arange(b)[:, None] * w + beam).reshape(-1)
        scores = np.take_along_axis(flat, best, axis=1)
        tokens = np.concatenate([tokens[rows], token.reshape(-1, 1)], axis=1)
        was_done = done[rows]
        lengths = lengths[rows] + (~was_done)
        done = was_done | (token.reshape(-1) == end_id)
        state = reorder(state, rows)
        if done.all():
            break
    normalised = scores / length_penalty(lengths.reshape(b, w), alpha)
    normalised = np.where(np.isfinite(scores), normalised, -np.inf)
    winner = np.argmax(normalised, axis=1)
    return tokens[np.arange(b) * w + winner, 1:]
