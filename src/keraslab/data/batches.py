"""Batch generators that ``model.fit`` reads (``keras.utils.PyDataset``), each reproducible per
epoch: batch ``i`` of epoch ``e`` is drawn from ``(seed, e, i)``, so a resumed run sees the same
data as an uninterrupted one after :meth:`EpochBatches.start_at`.

- :class:`ArrayBatches`: shuffled mini-batches of in-memory arrays (images and labels).
- :class:`TextBatches`: padded token rows in batches of similar length.
- :class:`TranslationBatches`: length-bucketed teacher-forcing pairs.
- :class:`WindowBatches`: random windows of a token stream (language modelling, nanoGPT-style).
- :class:`MaskedBatches`: masked-LM batches with a fresh mask per epoch (RoBERTa's dynamic
  masking), built on :mod:`keraslab.data.masking`.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keraslab.data.masking import gather_masked, mask_tokens
from keraslab.data.text import pad_batch
from keraslab.errors import UserError


class EpochBatches(keras.utils.PyDataset):
    """A PyDataset that knows its epoch (``on_epoch_end`` counts it and calls :meth:`plan`)."""

    epoch = 0

    def start_at(self, epoch: int):
        """Continue at ``epoch`` (a resumed run): the order that epoch would have had."""
        self.epoch = int(epoch)
        self.plan()
        return self

    def plan(self) -> None:
        """Prepare the current epoch's batch order (nothing by default)."""

    def num_samples(self) -> int:
        """Training samples in one epoch (full batches unless a subclass knows better)."""
        return len(self) * int(self.batch_size)

    def on_epoch_end(self):
        self.epoch += 1
        self.plan()


class ArrayBatches(EpochBatches):
    """Shuffled mini-batches of in-memory arrays, the order of epoch ``e`` drawn from
    ``(seed, e)``: unlike ``fit(x, shuffle=True)`` (the global random state), a resumed run sees
    the batches an uninterrupted one would have seen.

    Args:
        x: array (n, ...).
        y: optional array (n, ...). Batches are ``(x, y)`` when given, else ``x``.
        batch_size: int. The last batch holds the remainder.
        seed: int.

    Example:
        >>> model.fit(ArrayBatches(images, None, 64, seed=0).start_at(0), epochs=10)
    """

    def __init__(self, x, y=None, batch_size: int = 64, seed: int = 0):
        super().__init__()
        if y is not None and len(y) != len(x):
            raise ValueError(f"x has {len(x)} rows and y {len(y)}.")
        self.x, self.y, self.batch_size, self.seed = x, y, int(batch_size), int(seed)
        self.plan()

    def plan(self) -> None:
        self.order = self.epoch_order(self.epoch)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The rows of epoch ``epoch`` in batch order: batch ``i`` holds rows
        ``order[i * batch_size : (i + 1) * batch_size]``, sorted."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def num_samples(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        idx = np.sort(self.order[i * self.batch_size : (i + 1) * self.batch_size])
        return self.x[idx] if self.y is None else (self.x[idx], self.y[idx])

    def rows_of(self):
        """``(arrays, epoch_order)`` when a batch is nothing but rows of in-memory arrays (a
        batch is ``arrays[0][rows]``, or the tuple of every array's rows): then an input pipeline
        may gather the batches itself (:func:`keraslab.engine.feed.gathered_batches`). None for a
        subclass that makes its batches otherwise (noise, augmentation, padding)."""
        if type(self).__getitem__ is not ArrayBatches.__getitem__:
            return None
        return ((self.x,) if self.y is None else (self.x, self.y)), self.epoch_order


class TextBatches(ArrayBatches):
    """Mini-batches of right-padded id rows grouped by length: each epoch the rows are sorted by
    length (ties broken at random), cut into batches, and the batches shuffled, all from
    ``(seed, epoch)``; each batch is cut to its longest row rounded up to ``bucket`` tokens (few
    shapes to compile, little padding to compute).

    Example:
        >>> lm.fit(TextBatches(ids, 64, seed=0).start_at(0), epochs=4)
    """

    def __init__(self, ids, batch_size: int = 64, seed: int = 0, pad_id: int = 0, bucket=16):
        self.pad_id, self.bucket = int(pad_id), int(bucket)
        ids = np.asarray(ids, "int32")
        self.lengths = (ids != self.pad_id).sum(axis=1)
        super().__init__(ids, None, batch_size, seed)

    def plan(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        by_length = np.lexsort((rng.random(len(self.x)), self.lengths))
        batches = [
            by_length[i : i + self.batch_size] for i in range(0, len(self.x), self.batch_size)
        ]
        self.batches = [batches[i] for i in rng.permutation(len(batches))]
        # Keras's TensorFlow adapter fixes the batch shape from the first two batches: give
        # them different widths (when there are several) so the length axis stays free.
        widths = [self._width(b) for b in self.batches]
        other = next((i for i, w in enumerate(widths) if w != widths[0]), None)
        if other is not None and len(self.batches) > 1:
            self.batches[1], self.batches[other] = self.batches[other], self.batches[1]

    def _width(self, rows) -> int:
        longest = max(int(self.lengths[rows].max()), 1)
        return min(self.x.shape[1], -(-longest // self.bucket) * self.bucket)

    def __getitem__(self, i):
        rows = np.sort(self.batches[i])
        return self.x[rows, : self._width(rows)]


def balanced_rows(classes: np.ndarray, n: int, seed) -> np.ndarray:
    """``n`` row indices with every class of ``classes`` (one label per row) drawn equally
    often, the rows of a class uniformly with replacement."""
    rng = np.random.default_rng(seed)
    labels = np.unique(classes)
    pick = rng.integers(0, len(labels), n)
    out = np.empty(n, int)
    for i, c in enumerate(labels):
        members, where = np.flatnonzero(classes == c), pick == i
        out[where] = members[rng.integers(0, len(members), int(where.sum()))]
    return out


class BalancedBatches(ArrayBatches):
    """:class:`ArrayBatches` of ``x`` whose epoch is ``len(x)`` rows drawn with every class
    equally often (:func:`balanced_rows` from ``(seed, epoch)``): a rare class is seen as often
    as a common one.

    Example:
        >>> model.fit(BalancedBatches(x, labels, 128, seed=0), epochs=50)
    """

    def __init__(self, x, classes, batch_size: int = 64, seed: int = 0):
        self.classes = np.asarray(classes)
        if len(self.classes) != len(x):
            raise ValueError(f"x has {len(x)} rows and classes {len(self.classes)}.")
        super().__init__(x, None, batch_size, seed)

    def epoch_order(self, epoch: int) -> np.ndarray:
        return balanced_rows(self.classes, len(self.x), [self.seed, epoch])


class TranslationBatches(EpochBatches):
    """Length-bucketed teacher-forcing batches: ``((source, target_in), target_out)``.

    ``target_in`` is ``[START] y1 .. yn`` and ``target_out`` is ``y1 .. yn [END]``. Each epoch the
    pairs are shuffled, sorted by length within chunks of ``chunk`` batches (so a batch holds
    sentences of similar length and little padding), and the batch order is shuffled. Every batch
    is padded to a multiple of ``multiple`` tokens (few distinct shapes: few JAX compilations).

    Args:
        source: list of id lists.
        target: list of id lists (without ``[START]``/``[END]``).
        batch_size: int.
        start_id, end_id, pad_id: int.
        seed: int. Shuffling seed (epoch ``e`` uses ``seed + e``).
        shuffle: bool. False: keep the given order (for evaluation).
        max_length: optional int. Cut every sentence to this many tokens (a model's longest).

    Example:
        >>> batches = TranslationBatches(src_ids, tgt_ids, 64, tok.start_id, tok.end_id)
        >>> model.fit(batches, epochs=10)
    """

    def __init__(
        self,
        source,
        target,
        batch_size: int,
        start_id: int = 2,
        end_id: int = 3,
        pad_id: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        multiple: int = 16,
        chunk: int = 50,
        max_length: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_length = max_length
        if len(source) != len(target) or not source:
            raise ValueError("source and target must be equally long lists of sentences.")
        self.source, self.target = list(source), list(target)
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.start_id, self.end_id, self.pad_id = start_id, end_id, pad_id
        self.multiple, self.chunk = multiple, chunk
        self.plan()

    def plan(self):
        n = len(self.source)
        if not self.shuffle:
            order = np.arange(n)
            self.batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
            return
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(n)
        lengths = np.array([max(len(s), len(t) + 1) for s, t in zip(self.source, self.target)])
        span = self.batch_size * self.chunk
        batches = []
        for i in range(0, n, span):
            part = order[i : i + span]
            part = part[np.argsort(lengths[part], kind="stable")]
            batches += [part[j : j + self.batch_size] for j in range(0, len(part), self.batch_size)]
        self.batches = [batches[i] for i in rng.permutation(len(batches))]

    def __len__(self):
        return len(self.batches)

    def num_samples(self) -> int:
        return sum(len(b) for b in self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        src = [self.source[i] for i in rows]
        tgt_in = [[self.start_id, *self.target[i]] for i in rows]
        tgt_out = [[*self.target[i], self.end_id] for i in rows]
        longest = max(max(len(s) for s in src), max(len(t) for t in tgt_in))
        length = -(-longest // self.multiple) * self.multiple
        if self.max_length is not None:  # a model's longest input: longer sentences are cut
            length = min(length, self.max_length)
        return (
            (pad_batch(src, length, self.pad_id), pad_batch(tgt_in, length, self.pad_id)),
            pad_batch(tgt_out, length, self.pad_id),
        )


class WindowBatches(EpochBatches):
    """``steps`` batches of random windows ``(x, y = x shifted by one)`` per epoch, reproducible:
    batch ``i`` of epoch ``e`` comes from ``seed, e, i`` (so a resumed run sees the same data).

    Args:
        ids: 1-D int array, the token stream.
        sequence_length: int. Window length.
        batch_size: int.
        steps: int. Batches per epoch.
        seed: int.
    """

    def __init__(self, ids, sequence_length, batch_size, steps, seed=0):
        super().__init__()
        self.ids, self.length = np.asarray(ids, "int32"), int(sequence_length)
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        if len(self.ids) <= self.length:
            raise UserError(
                f"the training text has {len(self.ids)} tokens: it needs more than "
                f"--sequence-length {self.length}."
            )

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        starts = rng.integers(0, len(self.ids) - self.length, self.batch_size)
        idx = starts[:, None] + np.arange(self.length + 1)
        windows = self.ids[idx]
        return windows[:, :-1], windows[:, 1:]


def _bucket(length: int, limit: int) -> int:
    return min(-(-length // 16) * 16, limit)  # few shapes: few JAX compilations


class MaskedBatches(EpochBatches):
    """Batches ``((inputs, segments, positions), (labels, weights[, is_next]))`` with a fresh mask
    per epoch (batch ``i`` of epoch ``e`` drawn from ``seed, e, i``: a resumed run sees the same
    masks). Texts of similar length are batched together (sorted within chunks of 20 batches,
    then the batches shuffled), each batch padded to a multiple of 16 tokens; labels are kept at
    the chosen positions only (at most ``ceil(1.5 * rate * length)`` per text).

    Args:
        ids, segments: lists of token-id and segment-id lists.
        is_next: int array of next-sentence labels, or None (no NSP task).
        batch_size: int.
        mask_id, vocabulary_size: int. The tokenizer's ``[MASK]`` id and size.
        special_ids: ids never masked.
        sequence_length: int. The longest padded length.
        rate: float. Share of tokens chosen.
        seed: int.
        shuffle: bool. False: a fixed order and mask (evaluation).
    """

    def __init__(
        self,
        ids,
        segments,
        is_next,
        batch_size,
        mask_id,
        vocabulary_size,
        special_ids,
        sequence_length,
        rate=0.15,
        seed=0,
        shuffle=True,
    ):
        super().__init__()
        self.ids, self.segments, self.is_next = ids, segments, is_next
        self.batch_size, self.mask_id, self.vocabulary_size = batch_size, mask_id, vocabulary_size
        self.special_ids, self.length, self.rate = tuple(special_ids), sequence_length, rate
        self.seed, self.shuffle = seed, shuffle
        self.plan()

    def __len__(self):
        return math.ceil(len(self.ids) / self.batch_size)

    def plan(self):
        n, size = len(self.ids), self.batch_size
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(n)
            chunk = size * 20
            lengths = np.array([len(s) for s in self.ids])
            order = np.concatenate(
                [
                    c[np.argsort(lengths[c], kind="stable")]
                    for c in np.split(order, range(chunk, n, chunk))
                ]
            )
            batches = [order[j : j + size] for j in range(0, n, size)]
            batches = [batches[j] for j in rng.permutation(len(batches))]
        else:
            batches = [np.arange(j, min(j + size, n)) for j in range(0, n, size)]
        self.batches = batches

    def __getitem__(self, i):
        rows = self.batches[i]
        length = _bucket(max(len(self.ids[r]) for r in rows), self.length)
        ids = pad_batch([self.ids[r] for r in rows], length)
        seg = pad_batch([self.segments[r] for r in rows], length)
        rng = np.random.default_rng([self.seed, self.epoch if self.shuffle else 0, i, 1])
        inputs, labels, weights = mask_tokens(
            ids, rng, self.mask_id, self.vocabulary_size, self.special_ids, self.rate
        )
        most = math.ceil(1.5 * self.rate * length)
        inputs, positions, labels, weights = gather_masked(inputs, labels, weights, most)
        y = (labels, weights) if self.is_next is None else (labels, weights, self.is_next[rows])
        return (inputs, seg, positions), y
