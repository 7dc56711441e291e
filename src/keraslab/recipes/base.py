"""What every image recipe shares: a run directory, training with grids/logs/checkpoints,
``--resume``, sampling to a PNG and FID/KID evaluation. A recipe subclasses :class:`ImageRecipe`
and says how to build its model, what to log each epoch and what to report at the end.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, FIDMonitor, ImageGrid, MetricsLog
from keraslab.checkpoint import CheckpointError, load_checkpoint
from keraslab.data import DataSourceMissing, get_dataset, load
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import atomic_path, save_image_grid, write_json
from keraslab.recipes.settings import Settings
from keraslab.runs import (
    Run,
    continue_run,
    new_run,
    open_run,
    refuse_to_overwrite,
    save_evaluation,
)

MAX_SAMPLES = 100_000  # `sample --n` upper bound (100k MNIST images are 314 MB as float32)


@dataclass
class ImageConfig(Settings):
    """Settings every image recipe has (each recipe adds its own; all saved in config.json)."""

    dataset: str = "mnist"
    epochs: int = 5
    batch_size: int = 64
    subset: int | None = None  # training images used (None: the whole train split)
    latent_dim: int = 64
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    seed: int = 0
    grid: int = 64  # images in each samples/epoch_NNN.png
    fid_samples: int = 2000  # generated images for the per-epoch fast FID
    final_samples: int = 10000  # generated images for the final fast FID/KID in summary.json

    _positive = ("epochs", "batch_size", "latent_dim", "grid", "fid_samples", "final_samples")

    def validate(self) -> None:
        get_dataset(self.dataset)  # ValueError for unknown names
        self.check_positive()
        if self.subset is not None and int(self.subset) < 1:
            raise UserError(f"--subset must be a positive integer, got {self.subset}.")
        if not 0.0 <= self.beta_1 < 1.0:
            raise UserError(f"--beta-1 must be in [0, 1), got {self.beta_1}.")
        if not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")


@dataclass
class Data:
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def fast_extractor(dataset: str):
    """The shipped domain classifier for this dataset, or None (e.g. digits)."""
    from keraslab.metrics.classifier import ClassifierFeatures

    try:
        return ClassifierFeatures(dataset)
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
    """A user's ``.npy`` (or single-array ``.npz``) file, with one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} file {p} does not exist.")
    try:
        with open(p, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                if len(data.files) != 1:
                    raise UserError(
                        f"{p} holds {len(data.files)} arrays ({', '.join(data.files)}): save one array per file."
                    )
                data = data[data.files[0]]
            return np.asarray(data)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"{p} is not a numpy .npy/.npz file ({type(e).__name__}).") from None


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
    x = x.astype("float32")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise UserError(f"{path}: pixel values must be in [0, 1] (or uint8 0..255).")
    return x


class ImageRecipe:
    """Base of the image recipes. Subclasses set ``name`` and ``Config`` and implement
    :meth:`build_model`; the rest has defaults suited to generators with ``sample``/``generate``.
    """

    name: str = ""
    Config: type = ImageConfig
    monitor: str | None = "fid"  # log key deciding the best checkpoint (None: last only)
    monitor_mode: str = "min"

    # ---- hooks -----------------------------------------------------------------------------
    def build_model(self, config):
        raise NotImplementedError

    def load_data(self, config) -> Data:
        try:
            (x, y), (xt, yt) = load(config.dataset, "float32")
        except DataSourceMissing as e:
            raise UserError(str(e)) from None
        if config.subset is not None and config.subset < len(x):
            idx = np.sort(np.random.default_rng(config.seed).permutation(len(x))[: config.subset])
            x, y = x[idx], y[idx]
        return Data(x, y, xt, yt)

    def fit_data(self, config, model, data: Data) -> dict:
        """Keyword arguments of ``model.fit`` that carry the data (x, y, batching)."""
        conditional = getattr(model, "num_classes", None) is not None
        return {
            "x": data.x,
            "y": data.y.astype("int32") if conditional else None,
            "batch_size": config.batch_size,
            "shuffle": True,
        }

    def epoch_callbacks(self, run: Run, config, model, data: Data) -> list:
        """Callbacks that add values to the epoch logs (run before the log and checkpoint)."""
        extractor = fast_extractor(config.dataset)
        if extractor is None:
            return []
        real = extractor(data.x_test[: config.fid_samples])
        return [FIDMonitor(extractor, real, n=config.fid_samples, key="fid")]

    def picture_callbacks(self, run: Run, config, model, data: Data) -> list:
        classes = getattr(model, "num_classes", None)
        n = 10 * classes if classes else config.grid  # conditional: one class per column
        return [ImageGrid(run.samples, n=n, seed=config.seed)]

    def final_metrics(self, run: Run, config, model, data: Data, echo) -> dict:
        extractor = fast_extractor(config.dataset)
        if extractor is None:
            return {}
        from keraslab.metrics.quality import class_scores, format_quality, softmax

        n = config.final_samples
        fake, fake_logits = extractor.features_and_logits(model.sample(n, seed=12345))
        real, real_logits = extractor.features_and_logits(data.x_test[:n])
        out = fid_kid(fake, real, extractor.name, f"test split ({len(real)})")
        out["quality"] = class_scores(softmax(fake_logits))
        out["real_quality"] = class_scores(softmax(real_logits))
        echo(f"FID ({out['extractor']}, {out['samples']} samples vs test split): {out['fid']:.2f}")
        echo(
            f"recognisable ({out['extractor']}): "
            + format_quality(out["quality"], out["real_quality"])
        )
        return out

    def final_pictures(self, run: Run, config, model, data: Data) -> dict:
        from keraslab.plots import save_curve

        keys = [k for k in ("fid", "test_elbo", "val_loss") if any(k in r for r in run.metrics())]
        out = {}
        for key in keys:
            out[f"{key}_curve"] = str(save_curve(run.metrics(), key, run.path / f"{key}_curve.png"))
        return out

    # ---- shared machinery --------------------------------------------------------------------
    def config_from_run(self, saved: dict):
        """The Config of a saved run (``config.json``); recipes map older settings here."""
        return self.Config.from_dict(saved)

    def check_run(self, run: Run) -> None:
        if run.recipe != self.name:
            raise UserError(f"{run.path} is a {run.recipe!r} run, not {self.name!r}.")

    def train(self, config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
        """Start a new run under ``out``; returns the summary (also in ``summary.json``)."""
        config.validate()
        data = self.load_data(config)  # before creating anything: a missing source writes nothing
        run = new_run(out, self.name, {**asdict(config), "backend": keras.backend.backend()})
        echo(f"run directory: {run.path}")
        set_seed(config.seed)
        model = self.build_model(config)
        return self._fit(run, config, model, data, initial_epoch=0, verbose=verbose, echo=echo)

    def resume(self, run_path: str, epochs: int | None = None, verbose: int = 1, echo=print):
        """Continue a run from its newest checkpoint (weights, optimizers, seeds, epoch)."""
        run = open_run(run_path)
        self.check_run(run)
        config = self.config_from_run(run.config)
        if epochs is not None:
            config.epochs = epochs
        config.validate()
        ckpt = run.checkpoint("last")
        data = self.load_data(config)
        set_seed(config.seed)
        model = self.build_model(config)
        try:
            header = load_checkpoint(model, ckpt)
        except CheckpointError as e:
            raise UserError(str(e)) from None
        done = header["epoch"]
        continue_run(run, done, config.epochs, epochs, echo)
        return self._fit(
            run, config, model, data, done, verbose, echo, best=header["meta"].get("best")
        )

    def _fit(self, run, config, model, data, initial_epoch, verbose, echo, best=None) -> dict:
        grids = self.picture_callbacks(run, config, model, data)
        epoch_cbs = self.epoch_callbacks(run, config, model, data)
        monitor = self.monitor if epoch_cbs or self.monitor == "val_loss" else None
        cbs = [
            *epoch_cbs,
            *grids,
            MetricsLog(run.metrics_path),
            Checkpoint(run.checkpoints, monitor=monitor, mode=self.monitor_mode, best=best),
        ]
        t0 = time.time()
        model.fit(
            **self.fit_data(config, model, data),
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            verbose=verbose,
            callbacks=cbs,
        )
        summary = {
            "epochs": config.epochs,
            "train_seconds_this_session": round(time.time() - t0, 1),
            "backend": keras.backend.backend(),
        }
        if grids and getattr(grids[0], "last_path", None):
            summary["last_grid"] = str(grids[0].last_path)
        summary.update(self.final_metrics(run, config, model, data, echo))
        summary.update(self.final_pictures(run, config, model, data))
        write_json(run.summary_path, summary)
        if "last_grid" in summary:
            echo(f"last sample grid: {summary['last_grid']}")
        echo(f"run directory: {run.path}")
        return summary

    def load_model(self, run: Run, which: str = "last"):
        config = self.config_from_run(run.config)
        model = self.build_model(config)
        try:
            load_checkpoint(model, run.checkpoint(which))
        except CheckpointError as e:
            raise UserError(str(e)) from None
        return model, config

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
            z = load_user_array(latents, "latents")
            if z.ndim != 2 or z.shape[1] != model.latent_dim:
                raise UserError(
                    f"{latents} holds latent vectors of shape {tuple(z.shape)}; this run's model "
                    f"takes (n, {model.latent_dim})."
                )
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
        if n < 1:
            raise UserError(f"--n must be a positive integer, got {n}.")
        if n > MAX_SAMPLES:
            raise UserError(f"--n must be at most {MAX_SAMPLES:,}, got {n:,}.")
        run = open_run(run_path)
        self.check_run(run)
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

    def export_model(self, model):
        """The part of a trained model users take home (a GAN's generator; else the model)."""
        return getattr(model, "generator", model)

    # ---- evaluate ------------------------------------------------------------------------------
    def evaluate(
        self,
        run_path: str,
        extractor: str = "classifier",
        n: int = 10000,
        which: str = "last",
        echo=print,
        **options,
    ) -> dict:
        """FID and KID of ``n`` generated images against the test split (evaluation.json)."""
        if options:
            flags = ", ".join("--" + k.replace("_", "-") for k in options)
            raise UserError(f"{flags}: only for vae runs, not {self.name!r}.")
        if n < 2:
            raise UserError(f"--n must be at least 2, got {n}.")
        run = open_run(run_path)
        self.check_run(run)
        model, config = self.load_model(run, which)
        return self.fid_evaluation(run, model, config, extractor, n, which, echo)

    def fid_evaluation(self, run: Run, model, config, extractor, n, which, echo) -> dict:
        """FID/KID of ``n`` samples of a loaded ``model`` vs the test split, saved in the run."""
        from keraslab.metrics.reference import reference_features

        try:
            (_, _), (x_test, _) = load(config.dataset, "uint8")
        except DataSourceMissing as e:
            raise UserError(str(e)) from None
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
    def save_evaluation(run: Run, key: str, result: dict) -> None:
        save_evaluation(run, key, result)

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return (
            f"FID {r['fid']:.3f}  KID {r['kid']:.5f} ± {r['kid_std']:.5f}  "
            f"({r['extractor']} features, {r['samples']} samples vs {r['reference']}, "
            f"{r['checkpoint']} checkpoint)"
        )
