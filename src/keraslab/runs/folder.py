"""The run directory: ``runs/<recipe>-<YYYYmmdd-HHMMSS>/`` with ``config.json``,
``metrics.jsonl``, ``checkpoints/``, ``samples/epoch_NNN.png`` and ``summary.json``.

A run never overwrites another run. Nothing here imports keras, so the CLI can read a run's
backend before Keras is loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from keraslab.errors import UserError
from keraslab.io import atomic_path, write_json


@dataclass
class Run:
    path: Path
    config: dict

    @property
    def recipe(self) -> str:
        return self.config["recipe"]

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    def checkpoint(self, which: str = "last") -> Path:
        if which not in ("last", "best"):
            raise UserError(f"checkpoint must be 'last' or 'best', got {which!r}.")
        path = self.checkpoints / f"{which}.npz"
        if not path.is_file():
            if which == "best" and (self.checkpoints / "last.npz").is_file():
                return self.checkpoints / "last.npz"
            raise UserError(
                f"run {self.path} has no checkpoint yet (it stopped before its first epoch ended)."
            )
        return path

    def metrics(self) -> list[dict]:
        """The epoch log (``metrics.jsonl``), without lines that are not readable."""
        return self.read_metrics()[0]

    def read_metrics(self) -> tuple[list[dict], list[int]]:
        """``(rows, bad)``: the epoch log's rows and the numbers (from 1) of the lines that are
        not JSON objects (a line cut by a crash, or damaged)."""
        if not self.metrics_path.is_file():
            return [], []
        rows, bad = [], []
        text = self.metrics_path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad.append(number)
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad.append(number)
        return rows, bad

    def truncate_metrics(self, epochs: int) -> None:
        """Keep one line per epoch up to ``epochs`` (a resumed run repeats what the crash lost)."""
        rows = [r for r in self.metrics() if r.get("epoch", 0) <= epochs]
        seen, kept = set(), []
        for r in rows:
            if r["epoch"] not in seen:
                seen.add(r["epoch"])
                kept.append(r)
        with atomic_path(self.metrics_path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def clean_temporaries(self) -> None:
        """Remove temp files a killed process may have left (never a finished file)."""
        for folder in (self.path, self.checkpoints, self.samples):
            if folder.is_dir():
                for p in folder.glob(".tmp-*"):
                    p.unlink(missing_ok=True)


def require_recipe(run: Run, recipe: str) -> None:
    """UserError unless ``run`` was made by ``recipe``."""
    if run.recipe != recipe:
        raise UserError(
            f"{run.path} is a {run.recipe!r} run, not {'an' if recipe[0] in 'aeiou' else 'a'} "
            f"{recipe} run: "
            f"train one with `keraslab train {recipe}`."
        )


def reopen_run(run_path, recipe: str, config_from_run, epochs: int | None = None):
    """``(run, config)`` of a run to resume: checked, ``epochs`` applied, config validated.
    ``config_from_run(saved_dict)`` makes the settings (e.g. ``Config.from_dict``)."""
    run = open_run(run_path)
    require_recipe(run, recipe)
    for folder in (run.path, run.checkpoints):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(
                f"{folder} is not writable: a resume writes checkpoints and metrics there; "
                "copy the run folder somewhere writable and resume the copy."
            )
    config = config_from_run(run.config)
    if epochs is not None:
        config.epochs = epochs
    config.validate()
    return run, config


def load_run_tokenizer(run: Run, loader):
    """``loader(run/tokenizer.json)`` (e.g. ``SubwordTokenizer.load``); a missing or damaged file
    is a one-line UserError."""
    path = run.path / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{run.path} has no tokenizer.json: the run was not set up completely.")
    try:
        return loader(path)
    except UserError:
        raise
    except Exception:  # tokenizers raises its own exception types
        raise UserError(f"{path} is damaged (not a tokenizer file).") from None


def check_writable_dir(out: str | os.PathLike) -> Path:
    """Fail (UserError) unless ``out`` exists as a writable folder or can be created; create nothing."""
    out = Path(out).expanduser()
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"--out {out}: {probe} is a file, not a folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out {out} is not writable: choose a folder you can write to.")
    return out


def refuse_to_overwrite(path: str | os.PathLike, force: bool) -> None:
    """One-line error when ``path`` exists and ``--force`` was not given."""
    if Path(path).exists() and not force:
        raise UserError(f"{path} exists: choose another --out or pass --force to overwrite it.")


def check_model_out(out: str | os.PathLike | None, force: bool) -> Path:
    """``export --out`` as a Path; one-line errors for a missing or wrong suffix, an existing
    file (without ``force``) or a folder. Keras-free, so the CLI checks it before Keras loads."""
    if not out:
        raise UserError("export needs --out FILE.keras.")
    path = Path(out).expanduser()
    if path.suffix != ".keras":
        raise UserError(f"--out must end in .keras (a Keras model file), got {path}.")
    refuse_to_overwrite(path, force)
    if path.is_dir():
        raise UserError(f"--out {path} is a folder: give a file name ending in .keras.")
    return path


def new_run(out: str | os.PathLike, recipe: str, config: dict) -> Run:
    """Create a fresh run folder under ``out`` and write its ``config.json``."""
    out = check_writable_dir(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out {out}: {e.strerror}.") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        path = out / (f"{recipe}-{stamp}" if i == 1 else f"{recipe}-{stamp}-{i}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise UserError(f"could not find a free run name under {out}.")
    config = {
        **config,
        "recipe": recipe,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "system": system_info(),
    }
    write_json(path / "config.json", config)
    return Run(path, config)


def open_run(path: str | os.PathLike) -> Run:
    """Open an existing run folder; UserError if it is not one."""
    path = Path(path).expanduser()
    cfg = path / "config.json"
    if not path.is_dir():
        raise UserError(
            f"{path} is not a run folder (it does not exist): pass a folder made by `keraslab train`."
        )
    if not cfg.is_file():
        raise UserError(
            f"{path} is not a keraslab run (no config.json): pass a folder made by `keraslab train`."
        )
    try:
        config = json.loads(cfg.read_text())
        config["recipe"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{cfg} is damaged (not a keraslab run config).") from None
    return Run(path, config)


def continue_run(run: Run, done: int, total: int, epochs: int | None, echo=print) -> None:
    """Before resuming: check that ``run`` (``done`` epochs finished) has epochs left of
    ``total`` -- or has trained them all but lacks ``summary.json`` (a process stopped during
    the final metrics: they are computed now) -- remove what a killed process left, and record
    a new ``--epochs`` if one was given."""
    finishing = done == total and not run.summary_path.is_file()
    if done >= total and not finishing:
        raise UserError(
            f"{run.path} already has {done} of {total} epochs: pass --epochs N (> {done}) to train on."
        )
    run.clean_temporaries()
    run.truncate_metrics(done)
    if epochs is not None:
        update_config(run, epochs=epochs)
    if finishing:
        echo(f"{run.path} has all {total} epochs: computing the final metrics it lacks")
    else:
        echo(f"resuming {run.path} at epoch {done + 1} of {total}")


def _lock_holder(fd: int) -> str:
    """The process id written in a lock file someone else holds. The holder writes it just after
    taking the lock: a file read in between is empty, so wait a little for it."""
    deadline = time.monotonic() + 2.0
    while True:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder or time.monotonic() > deadline:
            return holder or "?"
        time.sleep(0.01)


@contextlib.contextmanager
def run_lock(run: Run):
    """Hold ``RUN/.lock`` while training: a second train or resume of the same run refuses in
    one line naming the holder's process id. The lock is the kernel's (``flock``): it ends with
    its process, so a lock file left by a killed process is simply taken over."""
    path = run.path / ".lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an exclusive create, no stale takeover
        fcntl = None
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | (0 if fcntl else os.O_EXCL), 0o644)
        if fcntl is None:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise UserError(
                f"{run.path} is in use by process {holder} (a train or resume): wait for it to "
                "end, or stop it, then resume."
            ) from None
        try:  # the file we locked may have been removed by the holder as it ended: retry
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: a waiter sees the file has gone
        os.close(fd)


def check_evaluation_file(run: Run) -> None:
    """Before ``evaluate`` does its work: the run folder must be writable and an existing
    ``evaluation.json`` readable, so the result can be saved."""
    if not os.access(run.path, os.W_OK | os.X_OK):
        raise UserError(
            f"{run.path} is not writable: evaluate saves evaluation.json there; copy the run "
            "folder somewhere writable."
        )
    path = run.path / "evaluation.json"
    if path.is_file():
        try:
            json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(
                f"{path} is damaged (not JSON): move it away (earlier results are in it), then "
                "run evaluate again."
            ) from None


def save_evaluation(run: Run, key: str, result: dict) -> None:
    """Add ``result`` under ``key`` to the run's ``evaluation.json`` (earlier keys are kept).
    The run's page shows it once rewritten (:func:`keraslab.runs.report.write_report`)."""
    path = run.path / "evaluation.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    previous[key] = result
    write_json(path, previous)


def update_config(run: Run, **changes) -> None:
    run.config.update(changes)
    write_json(run.path / "config.json", run.config)


def system_info() -> dict:
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "backend": os.environ.get("KERAS_BACKEND"),
    }
    for mod in ("keras", "numpy", "jax", "tensorflow", "torch"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    return info
