"""Callbacks for any ``fit()``: image grids every epoch, a metrics log, checkpoints, fast FID,
progress lines."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from keraslab.io import save_image_grid
from keraslab.runs.checkpoint import save_checkpoint


class ImageGrid(keras.callbacks.Callback):
    """Save a grid of generated images at the end of every epoch: ``<directory>/epoch_NNN.png``.

    The latent vectors are drawn once (from ``seed``) and reused every epoch, so the grids show
    the same samples evolving. Works with any model that has ``latent_dim`` and ``generate(z)``
    (keraslab's GANs and VAEs), or pass ``generate_fn(z) -> images in [0, 1]``.

    Args:
        directory: str or Path. Folder of the PNG files (created if needed).
        n: int. Number of images in the grid.
        seed: int. Seed of the fixed latent vectors.
        latent_dim: optional int. Defaults to ``model.latent_dim``.
        generate_fn: optional callable ``z -> images``. Defaults to ``model.generate``.
        scale: int. Pixel upscaling of the saved PNG.

    Example:
        >>> gan.fit(x, epochs=5, callbacks=[ImageGrid("samples/", n=64)])
    """

    def __init__(
        self,
        directory,
        n: int = 64,
        seed: int = 0,
        latent_dim: int | None = None,
        generate_fn=None,
        scale: int = 2,
    ):
        super().__init__()
        self.directory = Path(directory)
        self.n, self.seed, self.latent_dim, self.generate_fn, self.scale = (
            n,
            seed,
            latent_dim,
            generate_fn,
            scale,
        )
        self.last_path: Path | None = None

    def _latents(self):
        dim = self.latent_dim or self.model.latent_dim
        return np.random.default_rng(self.seed).standard_normal((self.n, dim)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        generate = self.generate_fn or self.model.generate
        images = np.asarray(generate(self._latents()))
        self.last_path = save_image_grid(
            images,
            self.directory / f"epoch_{epoch + 1:03d}.png",
            ncols=int(math.ceil(math.sqrt(self.n))),
            scale=self.scale,
        )


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop training with a one-line :class:`~keraslab.errors.UserError` when an epoch's loss is
    NaN or infinite. Placed before the metrics log and the checkpoints, so that epoch is neither
    logged nor saved: ``last.npz`` and ``best.npz`` stay the last good ones."""

    def on_epoch_end(self, epoch, logs=None):
        from keraslab.errors import UserError

        for key, value in (logs or {}).items():
            if "loss" in key and not math.isfinite(float(value)):
                raise UserError(
                    f"{key} became {float(value)} in epoch {epoch + 1}: training diverged; "
                    f"start a new run with a lower --learning-rate (the checkpoints keep epoch "
                    f"{epoch} and earlier)."
                )


class ProgressLines(keras.callbacks.Callback):
    """About ``lines`` short progress lines over a long ``fit`` of many small epochs (Keras's
    own bar would print one per epoch): ``label: epoch 30/300, g_loss -0.41, ... (12 s)``.

    Args:
        epochs: int. The epochs ``fit`` runs.
        label: str. What is being trained.
        echo: callable. Where the lines go (default: stderr, keeping stdout for results).
        lines: int.
    """

    def __init__(self, epochs: int, label: str, echo=None, lines: int = 10):
        super().__init__()
        self.epochs, self.label = int(epochs), label
        self.every = max(1, math.ceil(self.epochs / lines))
        self.echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))

    def on_train_begin(self, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        values = ", ".join(f"{k} {float(v):.4g}" for k, v in (logs or {}).items())
        self.echo(f"{self.label}: epoch {done}/{self.epochs}, {values} "
                  f"({time.time() - self._t0:.0f} s)")  # fmt: skip


class MetricsLog(keras.callbacks.Callback):
    """Append one JSON line per epoch: ``epoch`` (counted from 1), ``seconds``, the training
    ``samples_per_second`` (when ``samples_per_epoch`` is known), the process's ``peak_rss_mb``
    so far, and every log value.

    Args:
        path: str or Path. The ``metrics.jsonl`` file.
        samples_per_epoch: optional int. Training samples in one epoch (:func:`count_samples`).
    """

    def __init__(self, path, samples_per_epoch: int | None = None):
        super().__init__()
        self.path = Path(path)
        self.samples_per_epoch = samples_per_epoch
        self.last_row: dict | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - getattr(self, "_t0", time.time())
        row = {"epoch": epoch + 1, "seconds": round(seconds, 3)}
        if self.samples_per_epoch and row["seconds"] > 0:  # the logged seconds: they agree
            row["samples_per_second"] = round(self.samples_per_epoch / row["seconds"], 1)
        row["peak_rss_mb"] = peak_rss_mb()
        for k, v in (logs or {}).items():
            v = float(v)
            row[k] = v if math.isfinite(v) else None  # NaN/inf are not JSON
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.last_row = row


def peak_rss_mb() -> float | None:
    """The largest resident memory of this process so far, in MB (None where unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)  # bytes / KB


def count_samples(x) -> int | None:
    """Training samples per epoch of ``fit``'s ``x``: an array (or a dict/tuple of arrays),
    or a batch sequence (its ``num_samples()``, else batches x ``batch_size``)."""
    if hasattr(x, "num_samples"):
        return int(x.num_samples())
    if isinstance(x, keras.utils.PyDataset):
        size = getattr(x, "batch_size", None)
        return len(x) * int(size) if size else None
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, (list, tuple)):
        x = x[0] if x else None
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else None


class ReportPage(keras.callbacks.Callback):
    """Rewrite the run's ``report.html`` (:mod:`keraslab.runs.report`) at the end of every epoch.
    A page that cannot be written is a warning on stderr, once: it never stops a training.
    ``command``: the ``keraslab train`` line shown on the page (see ``write_report``)."""

    def __init__(self, run_path, command: str | None = None):
        super().__init__()
        self.run_path, self.command, self.warned = Path(run_path), command, False

    def on_epoch_end(self, epoch, logs=None):
        from keraslab.runs.report import write_report

        try:
            write_report(self.run_path, self.command)
        except Exception as e:  # noqa: BLE001 - a page must not end hours of training
            if not self.warned:
                print(f"keraslab: warning: report.html not written ({e})", file=sys.stderr)
                self.warned = True


class TensorBoardLog(keras.callbacks.Callback):
    """TensorBoard event files of a run: each epoch's scalars (exactly the line
    :class:`MetricsLog` just wrote, resource figures included) and the newest sample grids.

    With TensorFlow and TensorBoard installed (any backend), the scalars go through Keras's own
    ``keras.callbacks.TensorBoard`` (``LOG_DIR/train`` and ``LOG_DIR/validation``, tags
    ``epoch_<key>``, step = epoch index from 0) and the images through ``tf.summary``; without
    it, through tensorboardX in the same layout. Images are under ``LOG_DIR/samples``, tag =
    the folder name (``samples``, ``reconstructions``).

    Args:
        log_dir: str or Path. ``RUN/tensorboard``.
        metrics_log: the run's :class:`MetricsLog` (placed before this callback).
        image_dirs: folders holding ``epoch_NNN.png`` grids.
        writer: "auto", "keras" or "tensorboardx".
    """

    def __init__(self, log_dir, metrics_log: MetricsLog, image_dirs=(), writer: str = "auto"):
        super().__init__()
        from keraslab.runs.tensorboard import tensorboard_writer

        writer = tensorboard_writer(writer)
        self.log_dir, self.metrics_log = Path(log_dir), metrics_log
        self.image_dirs, self.writer = [Path(d) for d in image_dirs], writer
        self._keras = self._tbx = self._images = None
        if writer == "keras":
            self._keras = keras.callbacks.TensorBoard(
                str(self.log_dir), write_graph=False, update_freq="epoch", profile_batch=0
            )

    def set_model(self, model):
        super().set_model(model)
        if self._keras is not None:
            self._keras.set_model(model)

    def on_train_begin(self, logs=None):
        if self._keras is not None:
            self._keras.on_train_begin(logs)

    def on_train_end(self, logs=None):
        if self._keras is not None:
            self._keras.on_train_end(logs)
        for w in [*(self._tbx or {}).values(), *([self._images] if self._images else [])]:
            w.close()  # the next fit (a second stage, a resume) opens new files
        self._tbx = self._images = None

    def on_epoch_end(self, epoch, logs=None):
        row = dict(self.metrics_log.last_row or {})
        row.pop("epoch", None)
        scalars = {k: v for k, v in row.items() if v is not None}
        if self._keras is not None:
            self._keras.on_epoch_end(epoch, scalars)
        else:
            self._tensorboardx_scalars(epoch, scalars)
        self._write_images(epoch)

    def _tensorboardx_scalars(self, epoch, scalars):
        from tensorboardX import SummaryWriter

        if self._tbx is None:
            self._tbx = {
                "train": SummaryWriter(str(self.log_dir / "train")),
                "validation": SummaryWriter(str(self.log_dir / "validation")),
            }
        for key, value in scalars.items():
            which, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._tbx[which].add_scalar(f"epoch_{name}", float(value), epoch)
        for w in self._tbx.values():
            w.flush()

    def _write_images(self, epoch):
        grids = []
        for folder in self.image_dirs:
            path = folder / f"epoch_{epoch + 1:03d}.png"
            if path.is_file():
                from PIL import Image

                grids.append((folder.name, np.asarray(Image.open(path).convert("RGB"))))
        if not grids:
            return
        if self.writer == "keras":
            summary = self._keras.summary  # tf.summary, as Keras's callback loads it
            if self._images is None:
                self._images = summary.create_file_writer(str(self.log_dir / "samples"))
            with self._images.as_default():
                for tag, image in grids:
                    summary.image(tag, image[None], step=epoch)
        else:
            from tensorboardX import SummaryWriter

            if self._images is None:
                self._images = SummaryWriter(str(self.log_dir / "samples"))
            for tag, image in grids:
                self._images.add_image(tag, image, epoch, dataformats="HWC")
        self._images.flush()


def run_callbacks(
    run, samples_per_epoch=None, tensorboard: bool = False, checkpoint=None, command=None
):
    """The callbacks every training of a run ends with, in order: the metrics log, the
    checkpoint (when given), the report page (showing ``command``) and (``tensorboard``) the
    event files."""
    log = MetricsLog(run.metrics_path, samples_per_epoch)
    callbacks = [log] + ([checkpoint] if checkpoint is not None else [])
    callbacks.append(ReportPage(run.path, command))
    if tensorboard:
        image_dirs = [run.samples, run.path / "reconstructions"]
        callbacks.append(TensorBoardLog(run.path / "tensorboard", log, image_dirs))
    return callbacks


class Checkpoint(keras.callbacks.Callback):
    """Keep ``last.npz`` (every epoch) and ``best.npz`` (best ``monitor`` so far) in ``directory``.

    Each file holds weights, all optimizer states, seed state and the epoch counter
    (:mod:`keraslab.runs.checkpoint`), written to a temporary name and renamed: never half-written.

    Args:
        directory: str or Path.
        monitor: optional str. Log key deciding "best" (e.g. "fid"); None keeps only last.
        mode: str. "min" or "max".
        best: optional float. Best value so far (when resuming).
    """

    def __init__(
        self, directory, monitor: str | None = None, mode: str = "min", best: float | None = None
    ):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self.directory, self.monitor, self.mode, self.best = Path(directory), monitor, mode, best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor) if self.monitor else None
        improved = (
            value is not None
            and math.isfinite(float(value))
            and (
                self.best is None
                or (float(value) < self.best if self.mode == "min" else float(value) > self.best)
            )
        )
        if improved:
            self.best = float(value)
        meta = {
            "monitor": self.monitor,
            "best": self.best,
            "value": None if value is None else float(value),
        }
        # best before last: a process killed between the two leaves last.npz at the previous
        # epoch, so the resume repeats this epoch (the same numbers) and writes both again;
        # the other order could leave a best value recorded whose weights were never saved.
        if improved:
            save_checkpoint(self.model, self.directory / "best.npz", epoch + 1, meta)
        save_checkpoint(self.model, self.directory / "last.npz", epoch + 1, meta)


class FIDMonitor(keras.callbacks.Callback):
    """Add a FID to the epoch logs: ``n`` generated images vs real features; with a classifier
    extractor (``features_and_logits``) also the recognisability scores of the same images
    (:func:`keraslab.metrics.quality.class_scores`: ``score``, ``confident``,
    ``classes_present``).

    Put it before :class:`MetricsLog` and :class:`Checkpoint` so they see the values.

    Args:
        extractor: callable ``images -> (n, d) features`` (e.g. ``ClassifierFeatures("mnist")``).
        real_features: array (m, d). Features of real images.
        n: int. Generated images per evaluation.
        key: str. Log key of the FID.
        seed: int. Seed of the latents (fixed, so epochs are comparable).
        quality: bool. Also log the class scores when the extractor gives logits.
    """

    def __init__(
        self,
        extractor,
        real_features,
        n: int = 2000,
        key: str = "fid",
        seed: int = 1,
        quality: bool = True,
    ):
        super().__init__()
        self.extractor, self.real_features, self.n, self.key, self.seed = (
            extractor,
            real_features,
            n,
            key,
            seed,
        )
        self.quality = quality and hasattr(extractor, "features_and_logits")

    def on_epoch_end(self, epoch, logs=None):
        from keraslab.metrics.fid import fid
        from keraslab.metrics.quality import class_scores, softmax

        images = self.model.sample(self.n, seed=self.seed)
        if self.quality:
            features, logits = self.extractor.features_and_logits(images)
        else:
            features, logits = self.extractor(images), None
        if logs is None:
            return
        logs[self.key] = fid(features, self.real_features)
        if logits is not None:
            q = class_scores(softmax(logits))
            logs.update(
                score=q["score"], confident=q["confident"], classes_present=q["classes_present"]
            )


class ReconstructionGrid(keras.callbacks.Callback):
    """Save input | (noisy input) | reconstruction rows every epoch: ``<directory>/epoch_NNN.png``.

    Works with any model that has ``reconstruct(x)`` (keraslab's autoencoders and VAEs), or pass
    ``reconstruct_fn``. The same images (and the same noise) are used every epoch.

    Args:
        directory: str or Path. Folder of the PNG files.
        images: array (n, h, w, c) in [0, 1]. Clean inputs (n of about 8-16 reads best).
        noisy: optional array like ``images``. What the model sees (denoising); None: ``images``.
        reconstruct_fn: optional callable ``x -> images``. Defaults to ``model.reconstruct``.
        scale: int. Pixel upscaling of the saved PNG.
    """

    def __init__(self, directory, images, noisy=None, reconstruct_fn=None, scale: int = 2):
        super().__init__()
        self.directory = Path(directory)
        self.images = np.asarray(images, dtype="float32")
        self.noisy = None if noisy is None else np.asarray(noisy, dtype="float32")
        self.reconstruct_fn, self.scale = reconstruct_fn, scale
        self.last_path: Path | None = None

    def rows(self, model=None) -> np.ndarray:
        """The grid's images: clean row(s), noisy row(s) if any, reconstruction row(s)."""
        fn = self.reconstruct_fn or (model or self.model).reconstruct
        seen = self.images if self.noisy is None else self.noisy
        parts = (
            [self.images] + ([] if self.noisy is None else [self.noisy]) + [np.asarray(fn(seen))]
        )
        return np.concatenate(parts)

    def on_epoch_end(self, epoch, logs=None):
        self.last_path = save_image_grid(
            self.rows(),
            self.directory / f"epoch_{epoch + 1:03d}.png",
            ncols=len(self.images),
            scale=self.scale,
        )
