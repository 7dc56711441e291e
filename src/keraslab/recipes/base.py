"""What every recipe shares: a new run, ``--resume`` from the newest checkpoint (weights, every
optimizer's state, seeds, the epoch counter), best/last checkpoints, the metrics log,
``summary.json`` and loading a run back for the commands on it.

A recipe subclasses :class:`Recipe` and supplies only what differs, through hooks that take a
:class:`Job` (the run, its settings, data, saved assets such as a tokenizer, and the model)::

    load_data(config)          -> data           before anything is written
    make_assets(job)           -> assets         a new run: e.g. train and save a tokenizer
    load_assets(run, config)   -> assets         resume / load: read back what make_assets saved
    build_model(config, assets, data) -> model   compiled, optimizer state built (data: None
                                                 when a command loads the run)
    initialize(job)                              a new run, after build: e.g. a pretrained encoder
    fit_inputs(job)            -> dict           the data arguments of ``model.fit``
    callbacks(job)             -> list           epoch callbacks (run before the log, checkpoint)
    summarize(job, seconds)    -> dict           final metrics and pictures for summary.json

docs/architecture.md walks through a complete small recipe.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keraslab.errors import UserError
from keraslab.recipes import train_command
from keraslab.runs import (
    Run,
    continue_run,
    new_run,
    open_run,
    reopen_run,
    require_recipe,
    run_lock,
)


@dataclass
class Job:
    """One training or loading of a run: what the hooks read and fill in."""

    run: Run
    config: Any
    data: Any = None
    assets: Any = None
    model: Any = None
    initial_epoch: int = 0
    echo: Any = print
    monitor: str | None = None  # the log key of the best checkpoint (set from the recipe's)
    notes: dict = field(default_factory=dict)  # what one hook tells a later one (e.g. counts)
    tensorboard: bool = False  # also write TensorBoard event files (RUN/tensorboard)
    distribute: Any = None  # keraslab.scaleout.Distribute, or None: one device
    distribution: Any = None  # the keras.distribution set for it


class Recipe:
    """Base of every recipe. Subclasses set ``name``, ``Config``, ``monitor`` (the log key that
    picks the best checkpoint, or None: last only) and ``monitor_mode``, and implement
    :meth:`build_model` and :meth:`fit_inputs`."""

    name: str = ""
    Config: type = None
    monitor: str | None = None
    monitor_mode: str = "min"
    reported: tuple[str, ...] = ()  # log keys whose last-epoch values go into summary.json
    curves: tuple[str, ...] = ()  # log keys drawn as <key>_curve.png when the run logged them
    model_parallel: bool = False  # --distribute model-parallel shards its Transformer weights

    # ---- hooks ---------------------------------------------------------------------------------
    def load_data(self, config):
        return None

    def make_assets(self, job: Job):
        return None

    def load_assets(self, run: Run, config):
        return None

    def build_model(self, config, assets=None, data=None):
        raise NotImplementedError

    def initialize(self, job: Job) -> None:
        pass

    def fit_inputs(self, job: Job) -> dict:
        raise NotImplementedError

    def callbacks(self, job: Job) -> list:
        return []

    def summarize(self, job: Job, seconds: float) -> dict:
        return {}

    # Settings a config.json written before the option existed is read with (where the option's
    # default has changed since, e.g. a GAN's network preset); recipes map other changes in
    # config_from_run.
    saved_defaults: dict = {}

    def config_from_run(self, saved: dict):
        """The Config of a saved run (``config.json``): :attr:`saved_defaults` for the keys it
        lacks; recipes map older settings here."""
        return self.Config.from_dict({**self.saved_defaults, **saved})

    def export_model(self, model):
        """The part of a trained model users take home (a GAN's generator; else the model)."""
        return getattr(model, "generator", model)

    def _single_device(self, distribute, why: str) -> None:
        """For a recipe with its own train loop: ``--distribute`` is a one-line error."""
        if distribute is not None:
            raise UserError(
                f"--distribute: the {self.name} recipe trains on one device ({why}); run it "
                "without --distribute."
            )

    # ---- shared machinery ------------------------------------------------------------------------
    def train(
        self, config, out: str = "runs", verbose: int = 1, echo=print, tensorboard: bool = False,
        distribute=None,
    ) -> dict:  # fmt: skip
        """Start a new run under ``out``; returns the summary (also in ``summary.json``).
        ``tensorboard``: also write TensorBoard event files under ``RUN/tensorboard``.
        ``distribute``: a :class:`keraslab.scaleout.Distribute` (several devices or hosts;
        process 0 writes the run, the others work in a temporary folder removed at the end)."""
        import keras

        config.validate()
        check_precision(config)
        distribution = self._distribution(config, distribute)
        data = self.load_data(config)  # before creating anything: a missing source writes nothing
        with _private_out(distribute, out) as out:
            run = new_run(out, self.name, {**asdict(config), "backend": keras.backend.backend()})
            echo(f"run directory: {run.path}")
            try:
                job = self._start(run, config, data, echo, tensorboard, distribute, distribution)
            except UserError:  # found after the folder was made: leave nothing behind
                _remove_unstarted(run)
                raise
            with run_lock(run):
                return self.fit(job, verbose)

    def _distribution(self, config, distribute):
        """Set the Keras distribution of ``distribute`` (None: one device), checked against
        this recipe: model parallelism for Transformer recipes, a batch that splits evenly."""
        if distribute is None:
            return None
        from keraslab.engine.distribute import check_batch, start

        if distribute.mode == "model-parallel" and not self.model_parallel:
            raise UserError(
                f"--distribute model-parallel shards Transformer weights (translator, gpt, "
                f"bert-mlm); the {self.name} recipe trains data-parallel: --distribute "
                "data-parallel."
            )
        distribution = start(distribute)
        if getattr(config, "batch_size", None):
            check_batch(int(config.batch_size), distribution)
        return distribution

    def _start(self, run: Run, config, data, echo, tensorboard: bool = False, distribute=None,
               distribution=None) -> Job:  # fmt: skip
        """The job of a run's first epoch: assets made, the model built from the seed."""
        from keraslab.engine.seeding import set_seed

        job = Job(run, config, data, echo=echo, tensorboard=tensorboard, distribute=distribute,
                  distribution=distribution)  # fmt: skip
        job.assets = self.make_assets(job)
        set_seed(config.seed)
        job.model = self._build_model(config, job.assets, data)
        self.initialize(job)
        return job

    def _build_model(self, config, assets, data):
        """:meth:`build_model` at the run's ``precision`` (float32 unless the Config has one)."""
        from keraslab.engine.precision import precision

        with precision(getattr(config, "precision", "float32")):
            return self.build_model(config, assets, data)

    def resume(
        self, run_path, epochs: int | None = None, verbose: int = 1, echo=print,
        tensorboard: bool = False, distribute=None,
    ) -> dict:  # fmt: skip
        """Continue a run from its newest checkpoint (weights, optimizers, seeds, epoch); a run
        stopped before its first checkpoint starts again from epoch 1, as it began. Event
        files go on being written if the run has them (or ``tensorboard``). With
        ``distribute``, processes other than 0 continue a temporary copy of the run."""
        with _private_copy(distribute, run_path) as run_path:
            run, config = reopen_run(run_path, self.name, self.config_from_run, epochs)
            distribution = self._distribution(config, distribute)
            tensorboard = tensorboard or (run.path / "tensorboard").is_dir()
            with run_lock(run):
                return self._resume(run, config, epochs, verbose, echo, tensorboard, distribute,
                                    distribution)  # fmt: skip

    def _resume(self, run, config, epochs, verbose, echo, tensorboard, distribute, distribution):
        check_precision(config, run)
        data = self.load_data(config)
        if not (run.checkpoints / "last.npz").is_file():  # stopped during epoch 1
            continue_run(run, 0, config.epochs, epochs, echo)
            job = self._start(run, config, data, echo, tensorboard, distribute, distribution)
            return self.fit(job, verbose)
        job, header = self._load(run, config, "last", data)
        job.echo, job.tensorboard = echo, tensorboard
        job.distribute, job.distribution = distribute, distribution
        job.initial_epoch = header["epoch"]
        continue_run(run, job.initial_epoch, config.epochs, epochs, echo)
        return self.fit(job, verbose, best=header["meta"].get("best"))

    def fit(self, job: Job, verbose: int = 1, best=None) -> dict:
        """``model.fit`` from ``job.initial_epoch`` to ``config.epochs`` with the recipe's
        callbacks, the metrics log and the checkpoints; then ``summary.json``."""
        import keras

        from keraslab.runs.callbacks import (
            Checkpoint,
            StopOnNonFinite,
            count_samples,
            run_callbacks,
        )

        run, config = job.run, job.config
        job.monitor = self.monitor
        t0 = time.time()
        inputs = self.fit_inputs(job)
        if job.distribute is not None:  # this process's share of every batch
            from keraslab.engine.distribute import shard_inputs

            batch_size = getattr(config, "batch_size", None)
            inputs = shard_inputs(inputs, job.distribution, job.distribute, batch_size)
        checkpoint = Checkpoint(
            run.checkpoints, monitor=job.monitor, mode=self.monitor_mode, best=best
        )
        samples = count_samples(inputs.get("x"))
        if job.distribute is None:  # rows of in-memory arrays: gathered by the backend's pipeline
            from keraslab.engine.feed import gathered_batches

            inputs.update(gathered_batches(inputs.get("x"), config.epochs) or {})
        callbacks = [
            StopOnNonFinite(),
            *self.callbacks(job),
            *run_callbacks(run, samples, job.tensorboard, checkpoint, train_command(run.config)),
        ]
        if isinstance(inputs.get("x"), keras.utils.PyDataset):
            # Our batch sequences order themselves per (seed, epoch); Keras would otherwise
            # reshuffle their batches from the global random state, which a resume cannot restore.
            inputs.setdefault("shuffle", False)
        job.model.fit(
            **inputs,
            epochs=config.epochs,
            initial_epoch=job.initial_epoch,
            verbose=verbose,
            callbacks=callbacks,
        )
        seconds = time.time() - t0
        summary = {
            "epochs": config.epochs,
            "train_seconds_this_session": round(seconds, 1),
            "backend": keras.backend.backend(),
            "parameters": int(job.model.count_params()),
        }
        if job.distribute is not None:
            summary["distribute"] = job.distribute.as_dict()
        last = run.metrics()[-1:] or [{}]
        summary.update({k: last[0][k] for k in self.reported if k in last[0]})
        summary.update(self.summarize(job, seconds))
        summary.update(metric_curves(run, self.curves))
        write_summary(run, summary)
        job.echo(f"run directory: {run.path}")
        return summary

    def open(self, run_path) -> Run:
        """The run at ``run_path``, checked to be one of this recipe's."""
        run = open_run(run_path)
        require_recipe(run, self.name)
        return run

    def load(self, run: Run, which: str = "last") -> Job:
        """A run's settings, assets and model with its ``last`` or ``best`` checkpoint."""
        require_recipe(run, self.name)
        return self._load(run, self.config_from_run(run.config), which)[0]

    def _load(self, run: Run, config, which: str, data=None):
        from keraslab.engine.seeding import set_seed
        from keraslab.runs.checkpoint import load_run_checkpoint

        job = Job(run, config, data, assets=self.load_assets(run, config))
        set_seed(config.seed)
        job.model = self._build_model(config, job.assets, data)
        header = load_run_checkpoint(job.model, run, which)
        return job, header

    def load_model(self, run: Run, which: str = "last"):
        """``(model, config)`` of a run."""
        job = self.load(run, which)
        return job.model, job.config

    def export(self, run_path, out: str, which: str = "last", force: bool = False):
        """Write the run's model (:meth:`export_model`) to ``out`` as a ``.keras`` file."""
        from keraslab.recipes.export import export_run

        return export_run(self, run_path, out, which, force)

    @staticmethod
    def save_evaluation(run: Run, key: str, result: dict) -> None:
        """Add ``result`` to the run's ``evaluation.json`` and rewrite its page."""
        from keraslab.runs import save_evaluation
        from keraslab.runs.report import write_report

        save_evaluation(run, key, result)
        write_report(run.path, train_command(run.config))


def check_precision(config, run: Run | None = None) -> None:
    """A one-line UserError for a precision that cannot train on this backend (``run``: the
    precision comes from that run's config.json, not from an option)."""
    import keras

    if getattr(config, "precision", "float32") != "bfloat16" or keras.backend.backend() != "torch":
        return
    why = "PyTorch's CPU bfloat16 convolution backward fails"
    if run is not None:
        raise UserError(
            f"{run.path} trains in bfloat16 (its config.json), which the torch backend cannot "
            f"({why}): resume it with --backend tensorflow or jax."
        )
    raise UserError(
        f"--precision bfloat16 does not train on the torch backend ({why}); use --backend "
        "tensorflow or jax, or --precision float32."
    )


def write_summary(run: Run, summary: dict) -> None:
    """End a run: ``summary.json`` (``complete`` set: a run without it is not finished), then
    the final ``report.html``."""
    from keraslab.io import write_json
    from keraslab.runs.report import write_report

    summary["complete"] = True
    write_json(run.summary_path, summary)
    write_report(run.path, train_command(run.config))


def metric_curves(run: Run, keys) -> dict:
    """``{"<key>_curve": png}``: one plot per epoch-log key that the run has logged."""
    from keraslab.runs.charts import save_curve

    rows = run.metrics()
    out = {}
    for key in keys:
        if any(key in r for r in rows):
            out[f"{key}_curve"] = str(save_curve(rows, key, run.path / f"{key}_curve.png"))
    return out


@contextlib.contextmanager
def _private_out(distribute, out):
    """``out``, or for a process other than 0 of a distributed job a temporary folder (it
    computes what process 0 computes, and writes nothing the user keeps)."""
    if distribute is None or distribute.primary:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="keraslab-process-") as tmp:
        yield tmp


@contextlib.contextmanager
def _private_copy(distribute, run_path):
    """``run_path``, or for a process other than 0 a temporary copy of it (see _private_out)."""
    if distribute is None or distribute.primary:
        yield run_path
        return
    with tempfile.TemporaryDirectory(prefix="keraslab-process-") as tmp:
        copy = Path(tmp) / Path(run_path).name
        shutil.copytree(run_path, copy, ignore=shutil.ignore_patterns(".lock"))
        yield str(copy)


def _remove_unstarted(run: Run) -> None:
    """Delete a run folder that has no checkpoint yet (an error stopped it before training)."""
    import shutil

    if not run.checkpoints.exists():
        shutil.rmtree(run.path, ignore_errors=True)
