"""Checkpoints restore the full training state and are never half-written."""

import keras
import numpy as np
import pytest
from keras import ops

from keraslab.data import load_digits
from keraslab.io import atomic_path
from keraslab.models import DCGAN
from keraslab.runs.checkpoint import CheckpointError, load_checkpoint, read_header, save_checkpoint

pytestmark = pytest.mark.backend


def _gan(seed=0):
    gan = DCGAN(image_shape=(8, 8, 1), latent_dim=8, seed=seed)
    gan.compile()
    return gan


def test_round_trip_restores_weights_optimizers_and_seed_state(tmp_path):
    (x, _), _ = load_digits()
    a = _gan(seed=1)
    a.fit(x[:64], batch_size=32, epochs=1, verbose=0)
    save_checkpoint(a, tmp_path / "c.npz", epoch=1, meta={"best": 3.5})
    b = _gan(seed=99)
    header = load_checkpoint(b, tmp_path / "c.npz")
    assert header["epoch"] == 1 and header["meta"]["best"] == 3.5
    for va, vb in zip(a.variables + a.optimizer.variables, b.variables + b.optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(va), ops.convert_to_numpy(vb))
    assert int(ops.convert_to_numpy(b.optimizers["g"].iterations)) == 2
    # Same state => the next training step is identical (seed state included). The global seed
    # is reset too: on torch, Keras's unseeded Dropout draws from torch's global generator.
    keras.utils.set_random_seed(5)
    a.fit(x[:32], batch_size=32, epochs=1, verbose=0, shuffle=False)
    keras.utils.set_random_seed(5)
    b.fit(x[:32], batch_size=32, epochs=1, verbose=0, shuffle=False)
    for va, vb in zip(a.generator.weights, b.generator.weights):
        np.testing.assert_allclose(ops.convert_to_numpy(va), ops.convert_to_numpy(vb), atol=1e-6)


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    gan = _gan()
    path = tmp_path / "last.npz"
    save_checkpoint(gan, path, epoch=1)
    before = path.read_bytes()

    def exploding_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError):
        save_checkpoint(gan, path, epoch=2)
    assert path.read_bytes() == before
    assert read_header(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]  # no temp file left


def test_mismatched_or_corrupt_checkpoints_are_refused(tmp_path):
    small = _gan()
    save_checkpoint(small, tmp_path / "small.npz", epoch=1)
    big = DCGAN(image_shape=(8, 8, 1), latent_dim=16)
    big.compile()
    w0 = [ops.convert_to_numpy(v).copy() for v in big.variables]
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(big, tmp_path / "small.npz")
    for v, w in zip(big.variables, w0):  # nothing assigned
        np.testing.assert_array_equal(ops.convert_to_numpy(v), w)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(big, tmp_path / "junk.npz")


def test_atomic_path_only_renames_on_success(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new but incomplete")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_the_callback_keeps_the_best_epoch_and_writes_best_before_last(tmp_path):
    from keraslab.runs.callbacks import Checkpoint

    gan = _gan()
    cb = Checkpoint(tmp_path, monitor="fid", mode="min")
    cb.set_model(gan)
    fids = [3.0, 2.0, 2.5, float("nan"), 1.0]
    for epoch, fid in enumerate(fids):
        cb.on_epoch_end(epoch, {"fid": fid})
        assert read_header(tmp_path / "best.npz")["epoch"] == [1, 2, 2, 2, 5][epoch]
        last = read_header(tmp_path / "last.npz")
        assert last["epoch"] == epoch + 1 and last["meta"]["best"] == [3, 2, 2, 2, 1][epoch]
    # An improving epoch writes best.npz first: when writing last.npz then fails (here it is a
    # folder), the best is already saved, and last.npz stays at the previous epoch, so a resume
    # repeats the epoch instead of trusting a best value whose weights were never saved.
    other = tmp_path / "other"
    (other / "last.npz").mkdir(parents=True)
    cb = Checkpoint(other, monitor="fid", mode="min")
    cb.set_model(gan)
    with pytest.raises(OSError):
        cb.on_epoch_end(0, {"fid": 3.0})
    assert read_header(other / "best.npz")["epoch"] == 1
