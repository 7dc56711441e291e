"""Recipe ``dcgan``: train the lecture's DCGAN, save grids and checkpoints, report FID and KID.

``train`` -> run directory with ``config.json``, ``metrics.jsonl`` (losses and a fast FID per
epoch), ``samples/epoch_NNN.png``, ``checkpoints/{last,best}.npz`` and ``summary.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, FIDMonitor, ImageGrid, MetricsLog
from keraslab.checkpoint import CheckpointError, load_checkpoint
from keraslab.data import DataSourceMissing, get_dataset, load
from keraslab.errors import UserError
from keraslab.io import save_image_grid, write_json
from keraslab.models import DCGAN
from keraslab.runs import Run, new_run, open_run, update_config

NAME = "dcgan"


@dataclass
class Config:
    """Settings of a DCGAN run (every one has a default; all are saved in config.json).

    The defaults are the `make run` budget, about 10 minutes on 2 CPU cores with the torch
    backend: 6,400 MNIST images x 6 epochs at batch 64 (600 updates). The optimizer is the DCGAN
    paper's Adam(2e-4, beta_1=0.5): with the lecture's Adam(1e-4) the generator stays black
    for the first 450+ updates (measured), too slow for this budget. ``DCGAN.compile()`` itself
    keeps the lecture's Adam(1e-4).
    """

    dataset: str = "mnist"
    epochs: int = 6
    batch_size: int = 64
    subset: int | None = 6400  # training images used (None: the whole train split)
    latent_dim: int = 64
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    label_noise: float = 0.05
    seed: int = 0
    grid: int = 64  # images in each samples/epoch_NNN.png
    fid_samples: int = 2000  # generated images for the per-epoch fast FID
    final_samples: int = 10000  # generated images for the final fast FID/KID in summary.json

    def validate(self) -> None:
        get_dataset(self.dataset)  # ValueError for unknown names
        for name in ("epochs", "batch_size", "latent_dim", "grid", "fid_samples", "final_samples"):
            if int(getattr(self, name)) < 1:
                raise UserError(
                    f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}."
                )
        if self.subset is not None and int(self.subset) < 1:
            raise UserError(f"--subset must be a positive integer, got {self.subset}.")
        if not 0.0 <= self.beta_1 < 1.0:
            raise UserError(f"--beta-1 must be in [0, 1), got {self.beta_1}.")
        if not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _fast_extractor(dataset: str):
    """The shipped domain classifier for this dataset, or None (e.g. digits)."""
    from keraslab.metrics.classifier import ClassifierFeatures

    try:
        return ClassifierFeatures(dataset)
    except ValueError:
        return None


def _load_train(config: Config):
    try:
        (x, y), (xt, yt) = load(config.dataset, "float32")
    except DataSourceMissing as e:
        raise UserError(str(e)) from None
    if config.subset is not None and config.subset < len(x):
        idx = np.random.default_rng(config.seed).permutation(len(x))[: config.subset]
        x, y = x[np.sort(idx)], y[np.sort(idx)]
    return x, xt


def build_model(config: Config) -> DCGAN:
    shape = get_dataset(config.dataset).shape
    model = DCGAN(
        image_shape=shape,
        latent_dim=config.latent_dim,
        label_noise=config.label_noise,
        seed=config.seed,
    )
    model.compile(
        d_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
        g_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
    )
    return model


def _callbacks(run: Run, config: Config, extractor, x_test, best=None):
    cbs = []
    if extractor is not None:
        real = extractor(x_test[: config.fid_samples])
        cbs.append(FIDMonitor(extractor, real, n=config.fid_samples, key="fid"))
    grid = ImageGrid(run.samples, n=config.grid, seed=config.seed)
    cbs += [
        grid,
        MetricsLog(run.metrics_path),
        Checkpoint(run.checkpoints, monitor="fid" if extractor is not None else None, best=best),
    ]
    return cbs, grid


def _fid_kid(fake, real, extractor_name: str, reference: str) -> dict:
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


def train(config: Config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
    """Start a new run under ``out``; returns the summary (also in ``summary.json``)."""
    config.validate()
    x, x_test = _load_train(config)  # before creating anything: a missing source writes nothing
    run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
    echo(f"run directory: {run.path}")
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    return _fit(run, config, model, x, x_test, initial_epoch=0, verbose=verbose, echo=echo)


def resume(run_path: str, epochs: int | None = None, verbose: int = 1, echo=print) -> dict:
    """Continue a run from its newest checkpoint (weights, optimizers, seeds, epoch counter)."""
    run = open_run(run_path)
    if run.recipe != NAME:
        raise UserError(f"{run.path} is a {run.recipe!r} run, not {NAME!r}.")
    config = Config.from_dict(run.config)
    if epochs is not None:
        config.epochs = epochs
    config.validate()
    ckpt = run.checkpoint("last")
    x, x_test = _load_train(config)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    try:
        header = load_checkpoint(model, ckpt)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    done = header["epoch"]
    if done >= config.epochs:
        raise UserError(
            f"{run.path} already has {done} of {config.epochs} epochs: pass --epochs N (> {done}) to train on."
        )
    run.clean_temporaries()
    run.truncate_metrics(done)
    if epochs is not None:
        update_config(run, epochs=epochs)
    echo(f"resuming {run.path} at epoch {done + 1} of {config.epochs}")
    return _fit(
        run,
        config,
        model,
        x,
        x_test,
        initial_epoch=done,
        verbose=verbose,
        best=header["meta"].get("best"),
        echo=echo,
    )


def _fit(run, config, model, x, x_test, initial_epoch, verbose, echo, best=None) -> dict:
    extractor = _fast_extractor(config.dataset)
    cbs, grid = _callbacks(run, config, extractor, x_test, best=best)
    t0 = time.time()
    model.fit(
        x,
        batch_size=config.batch_size,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        shuffle=True,
        verbose=verbose,
        callbacks=cbs,
    )
    summary = {
        "epochs": config.epochs,
        "train_seconds_this_session": round(time.time() - t0, 1),
        "last_grid": str(grid.last_path),
        "backend": keras.backend.backend(),
    }
    if extractor is not None:
        n = config.final_samples
        fake = extractor(model.sample(n, seed=12345))
        real = extractor(x_test[:n])
        summary.update(_fid_kid(fake, real, extractor.name, f"test split ({len(real)})"))
    write_json(run.summary_path, summary)
    if "fid" in summary:
        echo(
            f"FID ({summary['extractor']}, {summary['samples']} samples vs test split): {summary['fid']:.2f}"
        )
    echo(f"last sample grid: {grid.last_path}")
    echo(f"run directory: {run.path}")
    return summary


def load_model(run: Run, which: str = "last") -> tuple[DCGAN, Config]:
    config = Config.from_dict(run.config)
    model = build_model(config)
    try:
        load_checkpoint(model, run.checkpoint(which))
    except CheckpointError as e:
        raise UserError(str(e)) from None
    return model, config


def sample(
    run_path: str,
    n: int = 64,
    out: str | None = None,
    seed: int = 0,
    which: str = "last",
    force: bool = False,
) -> Path:
    """Save a grid of ``n`` generated images as a PNG; returns its path."""
    if n < 1:
        raise UserError(f"--n must be a positive integer, got {n}.")
    run = open_run(run_path)
    out = Path(out) if out else run.path / f"sample-{which}-seed{seed}.png"
    if out.exists() and not force:
        raise UserError(f"{out} exists: choose another --out or pass --force to overwrite it.")
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must end in .png, got {out}.")
    model, _ = load_model(run, which)
    return save_image_grid(model.sample(n, seed=seed), out, scale=2)


def evaluate(
    run_path: str, extractor: str = "classifier", n: int = 10000, which: str = "last", echo=print
) -> dict:
    """FID and KID of ``n`` generated images against the test split; saved in evaluation.json."""
    from keraslab.metrics.reference import reference_features

    if n < 2:
        raise UserError(f"--n must be at least 2, got {n}.")
    run = open_run(run_path)
    model, config = load_model(run, which)
    (_, _), (x_test, _) = load(config.dataset, "uint8")
    n_real = min(n, len(x_test))
    feats, name = _extractor(extractor, config.dataset)
    real = reference_features(config.dataset, "test", n_real, name, feats, x_test[:n_real])
    echo(f"generating {n} images and extracting {name} features ...")
    fake = feats(model.sample(n, seed=12345))
    result = _fid_kid(fake, real, name, f"{config.dataset} test split ({n_real})")
    result["checkpoint"] = which
    path = run.path / "evaluation.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    previous[f"{name}-{which}-{n}"] = result
    write_json(path, previous)
    return result


def _extractor(kind: str, dataset: str):
    if kind == "classifier":
        ex = _fast_extractor(dataset)
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
