"""ArrayBatches: every row once per epoch, labels aligned, and the order of epoch e the same
whether reached by training through e epochs or by start_at(e) (what a resume does)."""

import numpy as np
import pytest

from keraslab.data.batches import ArrayBatches
from keraslab.data.noise import NoisyImages


def _epoch(batches):
    return [batches[i] for i in range(len(batches))]


def test_every_row_once_per_epoch_with_its_label():
    x = np.arange(50, dtype="float32")[:, None] * np.ones((1, 3), "float32")
    y = np.arange(50) * 10
    batches = ArrayBatches(x, y, batch_size=16, seed=3)
    assert len(batches) == 4
    orders = []
    for _ in range(3):
        xs, ys = zip(*_epoch(batches))
        assert [len(b) for b in xs] == [16, 16, 16, 2]
        rows = np.concatenate(xs)[:, 0].astype(int)
        np.testing.assert_array_equal(np.concatenate(ys), rows * 10)  # labels stay with rows
        assert sorted(rows) == list(range(50))
        orders.append(rows)
        batches.on_epoch_end()
    assert not np.array_equal(orders[0], orders[1])  # reshuffled each epoch


def test_start_at_gives_the_epoch_an_uninterrupted_run_would_see():
    x = np.random.default_rng(0).normal(size=(37, 2))
    trained = ArrayBatches(x, None, batch_size=8, seed=5)
    for _ in range(3):
        trained.on_epoch_end()
    resumed = ArrayBatches(x, None, batch_size=8, seed=5).start_at(3)
    for a, b in zip(_epoch(trained), _epoch(resumed)):
        np.testing.assert_array_equal(a, b)
    other_seed = ArrayBatches(x, None, batch_size=8, seed=6).start_at(3)
    assert not np.array_equal(_epoch(trained)[0], _epoch(other_seed)[0])


def test_noisy_images_resume_with_the_same_noise():
    x = np.random.default_rng(1).uniform(size=(20, 4, 4, 1)).astype("float32")
    trained = NoisyImages(x, 8, "gaussian", 0.3, seed=2)
    trained.on_epoch_end()
    resumed = NoisyImages(x, 8, "gaussian", 0.3, seed=2).start_at(1)
    for (na, ca), (nb, cb) in zip(_epoch(trained), _epoch(resumed)):
        np.testing.assert_array_equal(na, nb)
        np.testing.assert_array_equal(ca, cb)
    assert not np.array_equal(na, ca)  # noise was added


def test_labels_must_match_rows():
    with pytest.raises(ValueError, match="rows"):
        ArrayBatches(np.zeros((4, 2)), np.zeros(3), 2)


def test_balanced_batches_draw_each_class_equally_often():
    from scipy.stats import chisquare

    from keraslab.data.batches import BalancedBatches

    classes = np.array([0] * 90 + [1] * 8 + [2] * 2)  # 90 / 8 / 2 rows
    x = np.arange(100, dtype="float32")[:, None]
    batches = BalancedBatches(x, classes, batch_size=32, seed=0)
    drawn = []
    for _ in range(30):
        drawn.append(np.concatenate(_epoch(batches))[:, 0].astype(int))
        batches.on_epoch_end()
    rows = np.concatenate(drawn)
    assert len(drawn[0]) == 100  # an epoch is still len(x) rows
    per_class = np.bincount(classes[rows], minlength=3)
    assert chisquare(per_class).pvalue > 1e-3  # 1/3 each, not 90 / 8 / 2 %
    assert set(rows[classes[rows] == 2]) == {98, 99}  # the rare class's own rows, with replacement
    again = BalancedBatches(x, classes, batch_size=32, seed=0).start_at(29)
    np.testing.assert_array_equal(np.concatenate(_epoch(again))[:, 0].astype(int), drawn[29])


def test_text_batches_group_lengths_cover_every_row_and_repeat_per_epoch():
    from keraslab.data.batches import TextBatches

    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 64, 200)
    ids = np.zeros((200, 64), "int32")
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, 50, n)
    b = TextBatches(ids, batch_size=16, seed=3).start_at(2)
    batches = [b[i] for i in range(len(b))]
    rows = np.concatenate(b.batches)
    assert sorted(rows) == list(range(200))  # every row once per epoch
    for x, r in zip(batches, b.batches):
        longest = lengths[r].max()
        assert x.shape[1] == min(64, -(-longest // 16) * 16)  # cut to a multiple of 16
        np.testing.assert_array_equal(x, ids[np.sort(r), : x.shape[1]])
    assert batches[0].shape[1] != batches[1].shape[1]  # Keras's TF adapter keeps length free
    again = TextBatches(ids, batch_size=16, seed=3).start_at(2)
    assert all(np.array_equal(again[i], batches[i]) for i in range(len(b)))
