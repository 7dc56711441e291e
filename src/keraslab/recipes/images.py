"""What every image recipe shares (on top of :class:`~keraslab.recipes.base.Recipe`): the
image data, sample grids each epoch, a fast FID and recognisability scores, ``keraslab sample``
to a PNG or ``.npy``, and FID/KID evaluation. A recipe subclasses :class:`ImageRecipe` and says
how to build its model, what to log each epoch and what to report at the end.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keraslab.data import DataSourceMissing, load
from keraslab.errors import UserError
from keraslab.io import atomic_path, save_image_grid
from keraslab.recipes.base import Job, Recipe
from keraslab.recipes.specs.commands import MAX_SAMPLES, SampleOptions
from keraslab.recipes.specs.images import ImageConfig
from keraslab.runs import Run, refuse_to_overwrite
from keraslab.runs.callbacks import FIDMonitor, ImageGrid

__all__ = ["MAX_SAMPLES", "Data", "ImageConfig", "ImageRecipe", "fast_extractor", "user_images"]


@dataclass
class Data:
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _torch() -> bool:
    import keras

    return keras.backend.backend() == "torch"


def fast_extractor(dataset: str):
    """The shipped domain classifier for this dataset, or None (e.g. digits)."""
    from keraslab.metrics.classifier import ClassifierFeatures

    try:
        return ClassifierFeatures(dataset)
    except DataSourceMissing:
        raise
    except ValueError:
        return None


def fid_kid(fake, real, extractor_name: str, reference: str) -> dict:
    """FID and KID of generated vs real features, with what they were measured on."""
    from keraslab.metrics.fid import fid, kid

    kid_mean, kid_std = kid(fake, real, subset_size=min(1000, len(real), len(fake)))
    return {
        "fid": float(fid(fake, real)),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "extractor": extractor_name,
        "samples": len(fake),
        "reference": reference,
    }


def feature_extractor(kind: str, dataset: str):
    """(extractor, name) for ``--extractor classifier|inception``."""
    if kind == "classifier":
        ex = fast_extractor(dataset)
        if ex is None:
            raise UserError(f"no shipped classifier for {dataset!r}: use --extractor inception.")
        return ex, ex.name
    if kind == "inception":
        from keraslab.metrics.inception import InceptionFeatures

        try:
            ex = InceptionFeatures()
        except RuntimeError as e:
            raise UserError(str(e)) from None
        return ex, "inception"
    raise UserError(f"unknown extractor {kind!r}: choose 'classifier' or 'inception'.")


def load_user_array(path, what: str) -> np.ndarray:
    """A user's ``.npy`` (or single-array ``.npz``) file, ``-`` for standard input, with
    one-line errors: it must hold numbers (bool, integer or float), at least one row, at most
    MAX_SAMPLES rows, and no NaN or infinity."""
    import io
    import sys

    if str(path) == "-":
        name, source = "standard input", io.BytesIO(sys.stdin.buffer.read())
    else:
        p = Path(path)
        if p.is_dir():
            raise UserError(f"{what} file {p} is a folder: give a .npy file.")
        if not p.is_file():
            raise UserError(f"{what} file {p} does not exist.")
        name, source = str(p), p
    try:
        data = np.load(source, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if len(data.files) != 1:
                    raise UserError(
                        f"{name} holds {len(data.files)} arrays ({', '.join(data.files)}): "
                        "save one array per file."
                    )
                data = data[data.files[0]]
        x = np.asarray(data)
    except UserError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{name} is not a numpy .npy/.npz file ({type(e).__name__}).") from None
    if x.dtype.kind not in "biuf":
        raise UserError(f"{name} holds {x.dtype} values: {what} must be numbers (e.g. float32).")
    if x.ndim == 0 or len(x) == 0:
        raise UserError(f"{name} holds no {what} (shape {x.shape}): save at least one row.")
    if len(x) > MAX_SAMPLES:
        raise UserError(f"{name} holds {len(x):,} {what}: at most {MAX_SAMPLES:,} at a time.")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise UserError(
                f"{name} holds {int(bad.sum())} NaN or infinite values (the first in row {row}): "
                f"{what} must be finite."
            )
    return x


def user_latents(path, latent_dim: int) -> np.ndarray:
    """Latent vectors ``(n, latent_dim)`` float32 from a user's file (:func:`load_user_array`)."""
    z = load_user_array(path, "latents")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise UserError(
            f"{path} holds latent vectors of shape {tuple(z.shape)}; this run's model takes "
            f"(n, {latent_dim})."
        )
    return z.astype("float32")


def user_images(path, image_shape) -> np.ndarray:
    """Images from a user's file as float32 in [0, 1]; accepts (n, h, w) for one channel and
    uint8 0..255; one-line error when they do not fit the model."""
    x = load_user_array(path, "images")
    if x.ndim == 3 and image_shape[-1] == 1:
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise UserError(
            f"{path} holds images of shape {tuple(x.shape[1:])}; this run's model takes "
            f"{tuple(image_shape)} (height, width, channels)."
        )
    if x.dtype == np.uint8:
        return x.astype("float32") / 255.0
    if x.min() < 0 or x.max() > 1:
        raise UserError(
            f"{path}: pixel values must be in [0, 1] (or uint8 0..255), found "
            f"{x.min():g}..{x.max():g}."
        )
    return x.astype("float32")


class ImageRecipe(Recipe):
    """Base of the image recipes. Subclasses set ``name`` and ``Config`` and implement
    :meth:`build_model`; the rest has defaults suited to generators with ``sample``/``generate``.
    """

    Config: type = ImageConfig
    monitor: str | None = "fid"
    curves = ("fid", "test_elbo", "val_loss")

    # ---- hooks -----------------------------------------------------------------------------
    def load_data(self, config) -> Data:
        (x, y), (xt, yt) = load(config.dataset, "float32")
        if config.subset is not None and config.subset < len(x):
            idx = np.sort(np.random.default_rng(config.seed).permutation(len(x))[: config.subset])
            x, y = x[idx], y[idx]
        if len(x) > 1 and len(x) % config.batch_size == 1 and _torch():
            # PyTorch's CPU conv backward fails on a batch of one image (a non-contiguous
            # gradient): leave the last image out rather than crash at the end of an epoch.
            x, y = x[:-1], y[:-1]
        return Data(x, y, xt, yt)

    def fit_inputs(self, job: Job) -> dict:
        from keraslab.data.batches import ArrayBatches

        conditional = getattr(job.model, "num_classes", None) is not None
        y = job.data.y.astype("int32") if conditional else None
        batches = ArrayBatches(job.data.x, y, job.config.batch_size, job.config.seed)
        return {"x": batches.start_at(job.initial_epoch)}

    def epoch_callbacks(self, job: Job) -> list:
        """Callbacks that add values to the epoch logs (run before the log and checkpoint)."""
        extractor = fast_extractor(job.config.dataset)
        if extractor is None:
            return []
        n = job.config.fid_samples
        return [FIDMonitor(extractor, extractor(job.data.x_test[:n]), n=n, key="fid")]

    def picture_callbacks(self, job: Job) -> list:
        classes = getattr(job.model, "num_classes", None)
        n = 10 * classes if classes else job.config.grid  # conditional: one class per column
        return [ImageGrid(job.run.samples, n=n, seed=job.config.seed)]

    def final_metrics(self, job: Job) -> dict:
        config, echo = job.config, job.echo
        extractor = fast_extractor(config.dataset)
        if extractor is None:
            return {}
        from keraslab.metrics.quality import class_scores, format_quality, softmax

        n = config.final_samples
        fake, fake_logits = extractor.features_and_logits(job.model.sample(n, seed=12345))
        real, real_logits = extractor.features_and_logits(job.data.x_test[:n])
        out = fid_kid(fake, real, extractor.name, f"test split ({len(real)})")
        out["quality"] = class_scores(softmax(fake_logits))
        out["real_quality"] = class_scores(softmax(real_logits))
        echo(f"FID ({out['extractor']}, {out['samples']} samples vs test split): {out['fid']:.2f}")
        echo(
            f"recognisable ({out['extractor']}): "
            + format_quality(out["quality"], out["real_quality"])
        )
        return out

    def final_pictures(self, job: Job) -> dict:
        """Pictures of the trained model for summary.json (besides the metric curves)."""
        return {}

    # ---- the Recipe hooks, from the ones above ---------------------------------------------------
    def callbacks(self, job: Job) -> list:
        epoch = self.epoch_callbacks(job)
        # Without a per-epoch score (no shipped classifier, e.g. digits) the last checkpoint is kept.
        job.monitor = self.monitor if epoch or self.monitor == "val_loss" else None
        return [*epoch, *self.picture_callbacks(job)]

    def summarize(self, job: Job, seconds: float) -> dict:
        summary = {}
        grids = sorted(job.run.samples.glob("epoch_*.png"))
        if grids:
            summary["last_grid"] = str(grids[-1])
        summary.update(self.final_metrics(job))
        summary.update(self.final_pictures(job))
        if grids:
            job.echo(f"last sample grid: {grids[-1]}")
        return summary

    # ---- sample --------------------------------------------------------------------------------
    def make_images(self, model, config, n, seed, label=None, latents=None, images=None):
        """``(images, ncols)`` for ``keraslab sample``: generated from the prior (or from
        ``latents``); ``ncols`` None for a square grid."""
        if images is not None:
            raise UserError(
                f"--images reconstructs images: a {self.name!r} run generates them; "
                "use an autoencoder or vae run."
            )
        conditional = getattr(model, "num_classes", None) is not None
        if label is not None and not conditional:
            raise UserError(
                f"--label needs a class-conditional run; this {self.name!r} run is unconditional "
                f"(train one with --conditional)."
            )
        if label is not None and not 0 <= label < model.num_classes:
            raise UserError(f"--label must be in 0..{model.num_classes - 1}, got {label}.")
        if latents is not None:
            z = user_latents(latents, model.latent_dim)
            labels = None if label is None else np.full((len(z),), label, "int32")
            return (model.generate(z, labels=labels) if conditional else model.generate(z)), None
        if conditional:
            ncols = model.num_classes if label is None and n % model.num_classes == 0 else None
            return model.sample(n, seed=seed, label=label), ncols
        return model.sample(n, seed=seed), None

    def sample(
        self,
        run_path: str,
        n: int = 64,
        out: str | None = None,
        seed: int = 0,
        which: str = "last",
        force: bool = False,
        label: int | None = None,
        latents: str | None = None,
        images: str | None = None,
    ) -> Path:
        """Save ``n`` images from a run: a PNG grid (``--out X.png``), or the raw images as
        ``X.npy`` (``(n, h, w, c)`` float32 in [0, 1]) plus their grid ``X.png``. Returns the
        path of ``--out``."""
        SampleOptions(
            which=which,
            n=n,
            out=out,
            seed=seed,
            force=force,
            label=label,
            latents=latents,
            images=images,
        ).validate()  # the ranges the CLI checks, for Python callers too
        run = self.open(run_path)
        tag = f"-label{label}" if label is not None else ""
        out = Path(out) if out else run.path / f"sample-{which}-seed{seed}{tag}.png"
        suffix = out.suffix.lower()
        if suffix not in (".png", ".npy"):
            raise UserError(
                f"--out must end in .png (a grid) or .npy (the raw images and a grid), got {out}."
            )
        targets = [out] if suffix == ".png" else [out, out.with_suffix(".png")]
        for path in targets:
            refuse_to_overwrite(path, force)
        model, config = self.load_model(run, which)
        pictures, ncols = self.make_images(model, config, n, seed, label, latents, images)
        pictures = np.asarray(pictures, dtype="float32")
        grid = save_image_grid(pictures, targets[-1], ncols=ncols, scale=2)
        if suffix == ".png":
            return grid
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, pictures, allow_pickle=False)
        return out

    # ---- evaluate ------------------------------------------------------------------------------
    def evaluate(
        self,
        run_path: str,
        extractor: str = "classifier",
        n: int = 10000,
        which: str = "last",
        echo=print,
    ) -> dict:
        """FID and KID of ``n`` generated images against the test split (evaluation.json)."""
        if n < 2:
            raise UserError(f"--n must be at least 2, got {n}.")
        run = self.open(run_path)
        model, config = self.load_model(run, which)
        return self.fid_evaluation(run, model, config, extractor, n, which, echo)

    def fid_evaluation(self, run: Run, model, config, extractor, n, which, echo) -> dict:
        """FID/KID of ``n`` samples of a loaded ``model`` vs the test split, saved in the run."""
        from keraslab.metrics.reference import reference_features

        (_, _), (x_test, _) = load(config.dataset, "uint8")
        n_real = min(n, len(x_test))
        feats, name = feature_extractor(extractor, config.dataset)
        real = reference_features(config.dataset, "test", n_real, name, feats, x_test[:n_real])
        echo(f"generating {n} images and extracting {name} features ...")
        fake = feats(model.sample(n, seed=12345))
        result = fid_kid(fake, real, name, f"{config.dataset} test split ({n_real})")
        result["checkpoint"] = which
        self.save_evaluation(run, f"{name}-{which}-{n}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return (
            f"FID {r['fid']:.3f}  KID {r['kid']:.5f} ± {r['kid_std']:.5f}  "
            f"({r['extractor']} features, {r['samples']} samples vs {r['reference']}, "
            f"{r['checkpoint']} checkpoint)"
        )
