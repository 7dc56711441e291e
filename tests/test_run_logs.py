"""What every run logs besides its metrics: resource figures (seconds, samples per second, peak
memory) and, with ``--tensorboard``, event files whose scalars are the lines of metrics.jsonl
(read back with TensorBoard's own EventAccumulator), through Keras's TensorBoard callback and
through tensorboardX."""

import json

import numpy as np
import pytest

from helpers import read_images, read_scalars

pytestmark = pytest.mark.backend


def _vm_hwm_mb() -> float:
    """The kernel's peak resident size of this process (/proc/self/status VmHWM), in MB."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_peak_memory_is_the_kernels_figure():
    from keraslab.runs.callbacks import peak_rss_mb

    assert peak_rss_mb() == pytest.approx(_vm_hwm_mb(), abs=2.0)


def test_samples_per_epoch_of_every_kind_of_training_input():
    from keraslab.data.batches import ArrayBatches, TranslationBatches
    from keraslab.runs.callbacks import count_samples

    x = np.zeros((37, 3), "float32")
    assert count_samples(x) == 37
    assert count_samples({"a": x, "b": x[:, 0]}) == 37 and count_samples((x, x)) == 37
    assert count_samples(ArrayBatches(x, None, batch_size=8)) == 37  # not 5 x 8
    source = [[1, 2, 3]] * 23
    batches = TranslationBatches(source, source, batch_size=5, start_id=1, end_id=2, pad_id=0)
    assert count_samples(batches) == 23 == sum(len(batches[i][1]) for i in range(len(batches)))
    assert count_samples(None) is None


def _fit_with_logs(tmp_path, writer, epochs=3):
    import keras
    from PIL import Image

    from keraslab.runs.callbacks import MetricsLog, TensorBoardLog

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), loss="mse")

    class Grid(keras.callbacks.Callback):  # what ImageGrid does: a PNG per epoch
        def on_epoch_end(self, epoch, logs=None):
            (tmp_path / "samples").mkdir(exist_ok=True)
            pixels = np.full((6, 10, 3), 40 * epoch, "uint8")
            Image.fromarray(pixels).save(tmp_path / "samples" / f"epoch_{epoch + 1:03d}.png")

    log = MetricsLog(tmp_path / "metrics.jsonl", samples_per_epoch=48)
    tb = TensorBoardLog(tmp_path / "tb", log, [tmp_path / "samples"], writer=writer)
    model.fit(x[:48], y[:48], validation_data=(x[48:], y[48:]), batch_size=16, epochs=epochs,
              verbose=0, callbacks=[Grid(), log, tb])  # fmt: skip
    return [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("writer", ["keras", "tensorboardx"])
def test_event_files_hold_the_scalars_of_metrics_jsonl(tmp_path, writer):
    lines = _fit_with_logs(tmp_path, writer)
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert all(r["samples_per_second"] == pytest.approx(48 / r["seconds"], rel=0.01)
               for r in lines)  # fmt: skip
    assert all(r["peak_rss_mb"] > 0 for r in lines)
    train, val = (
        read_scalars(tmp_path / "tb" / "train"),
        read_scalars(tmp_path / "tb" / "validation"),
    )
    for key in ("loss", "seconds", "samples_per_second", "peak_rss_mb"):
        got = train[f"epoch_{key}"]
        assert [s for s, _ in got] == [0, 1, 2]
        assert [v for _, v in got] == pytest.approx([r[key] for r in lines], rel=1e-6)
    assert [v for _, v in val["epoch_loss"]] == pytest.approx(
        [r["val_loss"] for r in lines], rel=1e-6
    )
    assert lines[-1]["loss"] < lines[0]["loss"]  # it trained
    images = read_images(tmp_path / "tb" / "samples")
    assert images == {"samples": [(0, (6, 10)), (1, (6, 10)), (2, (6, 10))]}
