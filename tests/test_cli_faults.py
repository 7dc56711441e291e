"""Faults a user can cause (issue 18): SIGKILL and Ctrl-C at points of training and of the final
metrics, two resumes of one run at once, read-only folders, a full disk, broken pipes, non-UTF-8
input, diverging training, damaged run files, file modes under the user's umask. Each ends in one
line (exit 2; 130 for Ctrl-C) or a complete run."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from helpers import (
    assert_one_line_error,
    cli_env,
    default_sigint,
    run_cli,
    snapshot,
    without_root_override,
)

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--subset", "64", "--batch-size", "32", "--latent-dim", "4",
        "--quiet", "--backend", "torch"]  # fmt: skip


@pytest.fixture(scope="module")
def run_027(tmp_path_factory):
    """A finished one-epoch dcgan run trained under umask 027."""
    out = tmp_path_factory.mktemp("runs")
    proc = subprocess.run(
        [sys.executable, "-m", "keraslab.cli", "train", "dcgan", *TINY, "--epochs", "1", "--out", out],
        env=cli_env(), capture_output=True, text=True, preexec_fn=lambda: os.umask(0o027),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = list(out.iterdir())
    return run


def _copy(run, tmp_path):
    dst = tmp_path / run.name
    shutil.copytree(run, dst)
    return dst


def test_files_follow_the_umask(run_027):
    for rel in ("config.json", "metrics.jsonl", "summary.json", "checkpoints/last.npz"):
        mode = (run_027 / rel).stat().st_mode & 0o777
        assert mode == 0o640, (rel, oct(mode))


def test_a_run_killed_during_its_final_metrics_is_finished_by_resume(run_027, tmp_path):
    run = _copy(run_027, tmp_path)
    (run / "summary.json").unlink()  # what a kill after the last checkpoint leaves
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "computing the final metrics" in proc.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["complete"] is True and summary["epochs"] == 1
    epochs = [r["epoch"] for r in _rows(run)]
    assert epochs == [1]
    # Now it is finished: resume says so and changes nothing.
    before = snapshot(run)
    assert_one_line_error(run_cli("train", "--resume", run), "already has 1 of 1 epochs")
    assert snapshot(run) == before


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("held", flush=True)
time.sleep(60)
"""


def test_a_run_in_use_is_refused_and_a_stale_lock_taken_over(run_027, tmp_path):
    run = _copy(run_027, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run)
        proc = run_cli("train", "--resume", run, "--epochs", "2")
        assert_one_line_error(proc, "in use by process", str(holder.pid))
        assert snapshot(run) == before
    finally:
        holder.kill()
        holder.wait()
    proc = run_cli("train", "--resume", run, "--epochs", "2")  # the holder has gone: stale
    assert proc.returncode == 0, proc.stderr[-2000:]
    epochs = [r["epoch"] for r in _rows(run)]
    assert epochs == [1, 2] and not (run / ".lock").exists()


def test_damaged_evaluation_json_is_reported_before_the_work(run_027, tmp_path):
    run = _copy(run_027, tmp_path)
    (run / "evaluation.json").write_text('{"classifier-last": {"fid": 1.')  # cut by a crash
    before = snapshot(run)
    proc = run_cli("evaluate", run, "--extractor", "inception", "--n", "4")
    assert_one_line_error(proc, "evaluation.json is damaged", "move it away")
    assert snapshot(run) == before


def test_sample_out_under_a_file_is_one_line(run_027, tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = run_cli("sample", run_027, "--out", tmp_path / "afile" / "g.png")
    assert_one_line_error(proc, "is a file, not a folder")


def test_closed_stdout_is_not_an_error():
    proc = subprocess.Popen(
        [sys.executable, "-m", "keraslab.cli", "list"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
    )  # fmt: skip
    proc.stdout.close()  # the reader has gone (as `| head -0` would)
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("recipe, command", [("translator", "translate"), ("text-classifier", "classify")])  # fmt: skip
def test_non_utf8_stdin_is_one_line(recipe, command, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"recipe": recipe, "backend": "torch"}))
    proc = subprocess.run(
        [sys.executable, "-m", "keraslab.cli", command, str(run)],
        input=b"fine\nThe caf\xe9 is open.\n", capture_output=True, env=cli_env(),
    )  # fmt: skip
    proc.stderr = proc.stderr.decode()
    assert_one_line_error(proc, "not UTF-8", "line 2")


def test_diverging_training_stops_with_one_line_and_keeps_json_clean(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("train", "autoencoder", *TINY, "--kind", "dense", "--loss", "mse",
                   "--learning-rate", "1e30", "--epochs", "3", "--out", out)  # fmt: skip
    assert_one_line_error(proc, "diverged", "--learning-rate")
    (run,) = list(out.iterdir())
    text = (run / "metrics.jsonl").read_text() if (run / "metrics.jsonl").exists() else ""
    for line in text.splitlines():
        json.loads(line)  # strict JSON: no NaN
        assert "NaN" not in line and "Infinity" not in line


def test_stop_on_non_finite_names_the_epoch():
    from keraslab.errors import UserError
    from keraslab.runs.callbacks import StopOnNonFinite

    cb = StopOnNonFinite()
    cb.on_epoch_end(0, {"loss": 0.5, "val_accuracy": float("nan")})  # not a loss: ignored
    with pytest.raises(UserError, match="loss became nan in epoch 3"):
        cb.on_epoch_end(2, {"loss": float("nan")})


def test_an_unknown_keras_backend_variable_is_one_line(run_027, tmp_path):
    proc = run_cli("sample", run_027, "--out", tmp_path / "g.png", env={"KERAS_BACKEND": "numpyy"})
    # the run's own backend wins over the variable for commands on a run; train reads it:
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_cli("train", "dcgan", "--out", tmp_path / "runs", env={"KERAS_BACKEND": "numpyy"})
    assert_one_line_error(proc, "KERAS_BACKEND='numpyy'", "jax, tensorflow or torch")
    assert not (tmp_path / "runs").exists()


def test_an_error_after_the_run_folder_was_made_leaves_no_folder(tmp_path):
    text = tmp_path / "prose.txt"
    text.write_text("The quiet street was empty and the rain fell all night long. " * 60)
    out = tmp_path / "runs"
    proc = run_cli("train", "gpt", "--text", text, "--prompt", "Žž", "--layers", "1",
                   "--embedding-dim", "8", "--num-heads", "2", "--sequence-length", "16",
                   "--out", out, "--backend", "torch")  # fmt: skip
    assert_one_line_error(proc, "prompt")
    assert list(out.iterdir()) == []


def test_a_last_batch_of_one_image_trains_on_torch(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("train", "vae", "--dataset", "digits", "--subset", "65", "--batch-size", "64",
                   "--epochs", "1", "--ll-images", "4", "--quiet", "--backend", "torch",
                   "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = list(out.iterdir())
    assert json.loads((run / "summary.json").read_text())["complete"] is True


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(run_027, tmp_path):
    import resource
    import signal

    run = _copy(run_027, tmp_path)
    last = (run / "checkpoints" / "last.npz").read_bytes()

    def small_files():  # as `ulimit -f`: writing more than 64 KB fails with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    proc = subprocess.run(
        [sys.executable, "-m", "keraslab.cli", "train", "--resume", str(run), "--epochs", "2"],
        env=cli_env(), capture_output=True, text=True, preexec_fn=small_files,
    )  # fmt: skip
    assert_one_line_error(proc, "File too large")
    assert (run / "checkpoints" / "last.npz").read_bytes() == last  # the epoch-1 checkpoint
    assert not list(run.rglob(".tmp-*")) and not (run / ".lock").exists()
    proc = run_cli("train", "--resume", run, "--epochs", "2")  # and the run goes on
    assert proc.returncode == 0, proc.stderr[-2000:]
    epochs = [r["epoch"] for r in _rows(run)]
    assert epochs == [1, 2]


# ---- SIGKILL / Ctrl-C at points chosen by the test, and two resumes at once -----------------------
MNIST = ["--dataset", "mnist", "--subset", "256", "--batch-size", "32", "--latent-dim", "4",
         "--quiet", "--backend", "torch"]  # fmt: skip


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """An uninterrupted two-epoch dcgan run on MNIST: per-epoch FID, best checkpoint, final
    FID/KID over 10,000 images (about five seconds: a window to kill in)."""
    out = tmp_path_factory.mktemp("mnist")
    run_cli("train", "dcgan", *MNIST, "--epochs", "2", "--out", out, check=True)
    (run,) = list(out.iterdir())
    return run


def _epochs_checkpointed(run) -> int:
    from keraslab.runs.checkpoint import read_header

    last = run / "checkpoints" / "last.npz"
    return read_header(last)["epoch"] if last.is_file() else 0  # renamed into place: whole


def _interrupt(args, ready, delay: float, sig=signal.SIGKILL, timeout: float = 300):
    """Start ``keraslab ARGS``; once ``ready()`` holds, wait ``delay`` seconds and send ``sig``.
    Returns ``(returncode, stderr)``; fails if the process ended before the signal."""
    with open(os.devnull, "w") as devnull:
        proc = subprocess.Popen(
            [sys.executable, "-m", "keraslab.cli", *map(str, args)],
            stdout=devnull, stderr=subprocess.PIPE, env=cli_env(), text=True,
            preexec_fn=default_sigint,
        )  # fmt: skip
        try:
            deadline = time.time() + timeout
            while not ready():
                assert proc.poll() is None, f"ended before the point: {proc.stderr.read()[-2000:]}"
                assert time.time() < deadline, "the point was never reached"
                time.sleep(0.005)
            time.sleep(delay)
            assert proc.poll() is None, "ended before the signal"
            proc.send_signal(sig)
            try:
                _, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                # still running 5 s after a Ctrl-C (its exit takes ~1.6 s): press it again, as a
                # user would. A first SIGINT that landed in jax's gc callback used to be lost
                # (printed as "Exception ignored"); keraslab.cli.quiet.keep_ctrl_c re-delivers it now,
                # so this second press is a guard only.
                if sig == signal.SIGINT:
                    proc.send_signal(sig)
                _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.returncode, err


def _rows(run) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:  # the resource figures differ from run to run
        for key in ("seconds", "samples_per_second", "peak_rss_mb"):
            r.pop(key)
    return rows


@pytest.mark.parametrize("seed", [18])
def test_sigkill_and_ctrl_c_at_chosen_points_then_resume_gives_the_uninterrupted_run(
    mnist_run, tmp_path, seed
):
    rng = random.Random(seed)
    out = tmp_path / "runs"

    def run():
        return next(out.iterdir())

    # 1. SIGKILL during set-up or the first epoch: no checkpoint yet.
    code, _ = _interrupt(
        ["train", "dcgan", *MNIST, "--epochs", "2", "--out", out],
        lambda: out.is_dir() and any(out.glob("*/config.json")),
        rng.uniform(0.0, 1.0),
    )
    assert code == -signal.SIGKILL
    # 2. Ctrl-C in the second epoch (or while the first epoch's checkpoint is written).
    code, err = _interrupt(
        ["train", "--resume", run()], lambda: _epochs_checkpointed(run()) >= 1,
        rng.uniform(0.0, 0.4), sig=signal.SIGINT,
    )  # fmt: skip
    assert code == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["keraslab: interrupted (a run resumes with `keraslab train --resume RUN`)"]
    assert not (run() / ".lock").exists()
    # 3. SIGKILL during the final metrics (all epochs checkpointed, summary.json not written).
    code, _ = _interrupt(
        ["train", "--resume", run()], lambda: _epochs_checkpointed(run()) >= 2,
        rng.uniform(0.0, 0.8),
    )  # fmt: skip
    assert code == -signal.SIGKILL and not (run() / "summary.json").exists()
    assert (run() / ".lock").exists()  # left by the killed process: a stale lock
    # 4. Resume finishes what is missing.
    proc = run_cli("train", "--resume", run())
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = run()
    summary = json.loads((done / "summary.json").read_text())
    reference = json.loads((mnist_run / "summary.json").read_text())
    assert summary["complete"] is True and summary["epochs"] == 2
    # The same numbers as the run that was never interrupted (seeds, data order, optimizer state
    # and weights all restored), epoch by epoch and in the final metrics.
    assert _rows(done) == _rows(mnist_run)
    assert summary["fid"] == reference["fid"] and summary["kid"] == reference["kid"]
    for rel in ("checkpoints/last.npz", "checkpoints/best.npz", "samples/epoch_002.png",
                "fid_curve.png"):  # fmt: skip
        assert (done / rel).is_file(), rel
    assert not list(done.rglob(".tmp-*")) and not (done / ".lock").exists()


def test_two_resumes_of_one_run_at_once_one_refused(run_027, tmp_path):
    run = _copy(run_027, tmp_path)  # 29 more tiny epochs: the winner holds the lock for seconds
    args = [sys.executable, "-m", "keraslab.cli", "train", "--resume", str(run), "--epochs", "30"]
    procs = [
        subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(), text=True
        )  # fmt: skip
        for _ in range(2)
    ]
    results = [(p.pid, *p.communicate(timeout=300)) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [err[-1500:] for _, _, err in results]
    (winner,) = [pid for p, (pid, _, _) in zip(procs, results) if p.returncode == 0]
    (refused,) = [err for p, (_, _, err) in zip(procs, results) if p.returncode == 2]
    lines = [line for line in refused.splitlines() if line.strip()]
    assert len(lines) == 1 and f"in use by process {winner}" in lines[0], refused
    assert [r["epoch"] for r in _rows(run)] == list(range(1, 31))
    assert json.loads((run / "summary.json").read_text())["epochs"] == 30


HOLD_BEFORE_WRITING = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(0.3)  # a holder between its flock and writing its pid, slowed down
os.write(fd, str(os.getpid()).encode())
time.sleep(30)
"""


def test_a_lock_taken_but_not_yet_signed_still_names_its_holder(tmp_path):
    from keraslab.errors import UserError
    from keraslab.runs import Run, run_lock

    (tmp_path / "run").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_BEFORE_WRITING, str(tmp_path / "run" / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=f"in use by process {holder.pid} "):
            with run_lock(Run(tmp_path / "run", {"recipe": "dcgan"})):
                pass
    finally:
        holder.kill()
        holder.wait()


# ---- read-only places (file modes apply to root too: see helpers.without_root_override) -------------
def _read_only_copy(run, tmp_path):
    dst = _copy(run, tmp_path)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    return dst


def test_read_only_places_are_one_line_before_the_work(run_027, tmp_path):
    run = _read_only_copy(run_027, tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    before = snapshot(run)
    cases = [
        (("sample", run_027, "--out", locked / "g.png"), "not writable", str(locked)),
        (("evaluate", run, "--n", "4"), "not writable", "evaluation.json"),
        (("train", "--resume", run, "--epochs", "2"), "not writable", "copy the run folder"),
        (("export", run, "--out", locked / "g.keras"), "not writable", str(locked)),
        (("train", "dcgan", *TINY, "--out", locked), "not writable", str(locked)),
    ]
    for args, *fragments in cases:
        proc = run_cli(*args, preexec_fn=without_root_override)
        assert_one_line_error(proc, *fragments)
    assert snapshot(run) == before and list(locked.iterdir()) == []
    for p in [run, *run.rglob("*")]:
        p.chmod(0o755)
    locked.chmod(0o755)


# ---- the environment: a backend package missing or broken -------------------------------------------
@pytest.mark.parametrize(
    "site, fragment",
    [
        ({"sitecustomize.py": "import sys\nsys.modules['torch'] = None\n"}, "is not installed"),
        (
            {"torch/__init__.py": "raise OSError('libtorch_cpu.so: cannot open shared object')\n"},
            "does not import (OSError: libtorch_cpu.so",
        ),
    ],
    ids=["missing", "broken"],
)
def test_a_missing_or_broken_backend_is_one_line(tmp_path, site, fragment):
    lib = tmp_path / "lib"
    for rel, text in site.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text(text)
    proc = run_cli("train", "dcgan", "--backend", "torch", "--out", tmp_path / "runs",
                   env={"PYTHONPATH": str(lib)})  # fmt: skip
    assert_one_line_error(proc, "torch backend", fragment, "--backend")
    assert not (tmp_path / "runs").exists()
