"""gathered_batches: on TensorFlow, the tf.data pipeline yields exactly the batches the sequence
would (rows, labels, order, every epoch from a resumed one on); elsewhere, and for sequences that
are not plain rows of arrays, the sequence is fed as it is."""

import keras
import numpy as np
import pytest

from keraslab.data.batches import ArrayBatches, BalancedBatches, TextBatches
from keraslab.data.noise import NoisyImages
from keraslab.engine.feed import gathered_batches

pytestmark = pytest.mark.backend
TF = keras.backend.backend() == "tensorflow"


def _sequence_epochs(batches, first, epochs):
    """The batches the sequence gives for epochs first..epochs-1 (the reference)."""
    batches.start_at(first)
    out = []
    for _ in range(first, epochs):
        out += [batches[i] for i in range(len(batches))]
        batches.on_epoch_end()
    return out


def _as_tuples(batch):
    return tuple(np.asarray(b) for b in batch) if isinstance(batch, tuple) else (np.asarray(batch),)


@pytest.mark.parametrize("labels", [False, True])
@pytest.mark.parametrize("first", [0, 2])
def test_same_batches_as_the_sequence(labels, first):
    x = np.random.default_rng(0).normal(size=(37, 3, 2, 1)).astype("float32")
    y = np.arange(37, dtype="int32") if labels else None
    fed = gathered_batches(ArrayBatches(x, y, 8, seed=4).start_at(first), 4)
    if not TF:
        assert fed is None  # the PyDataset is as fast there: fed as it is
        return
    assert fed["steps_per_epoch"] == 5
    got = [_as_tuples(b) for b in fed["x"]]
    want = [_as_tuples(b) for b in _sequence_epochs(ArrayBatches(x, y, 8, seed=4), first, 4)]
    assert len(got) == len(want) == 5 * (4 - first)
    assert [len(b[0]) for b in got[:5]] == [8, 8, 8, 8, 5]
    for g, w in zip(got, want):
        assert len(g) == len(w)
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)
    if labels:  # each row keeps its label
        rows = np.concatenate([b[0] for b in got[:5]])
        np.testing.assert_array_equal(
            np.concatenate([b[1] for b in got[:5]]),
            [int(np.flatnonzero((x == r).all(axis=(1, 2, 3)))[0]) for r in rows],
        )


def test_an_array_given_twice_is_gathered_for_both():
    x = np.random.default_rng(1).normal(size=(10, 2)).astype("float32")
    fed = gathered_batches(ArrayBatches(x, x, 4, seed=0).start_at(0), 1)
    if not TF:
        assert fed is None
        return
    for a, b in fed["x"]:
        np.testing.assert_array_equal(a, b)


def test_balanced_batches_keep_their_draw():
    x = np.arange(30, dtype="float32")[:, None]
    classes = np.array([0] * 25 + [1] * 5)
    fed = gathered_batches(BalancedBatches(x, classes, 8, seed=2).start_at(1), 3)
    if not TF:
        assert fed is None
        return
    want = _sequence_epochs(BalancedBatches(x, classes, 8, seed=2), 1, 3)
    got = list(fed["x"])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g), w)


def test_sequences_that_make_their_batches_are_fed_as_they_are():
    images = np.random.default_rng(2).uniform(size=(12, 4, 4, 1)).astype("float32")
    ids = np.random.default_rng(3).integers(1, 9, size=(12, 6)).astype("int32")
    for batches in (NoisyImages(images, 4, "gaussian", 0.2, seed=0), TextBatches(ids, 4)):
        assert gathered_batches(batches, 2) is None
    assert gathered_batches(images, 2) is None  # arrays: Keras's own adapter
