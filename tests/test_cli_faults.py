"""Faults a user can cause (issue 18): broken pipes, non-UTF-8 input, a run in use by another
process, a process killed during the final metrics, diverging training, damaged run files, file
modes under the user's umask. Each ends in one line (exit 2) or a complete run."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import assert_one_line_error, cli_env, run_cli, snapshot

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
    epochs = [
        json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1]
    # Now it is finished: resume says so and changes nothing.
    before = snapshot(run)
    assert_one_line_error(run_cli("train", "--resume", run), "already has 1 of 1 epochs")
    assert snapshot(run) == before


def test_a_run_in_use_is_refused_and_a_stale_lock_taken_over(run_027, tmp_path):
    run = _copy(run_027, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(str(holder.pid))
        before = snapshot(run)
        proc = run_cli("train", "--resume", run, "--epochs", "2")
        assert_one_line_error(proc, "in use by process", str(holder.pid))
        assert snapshot(run) == before
    finally:
        holder.kill()
        holder.wait()
    proc = run_cli("train", "--resume", run, "--epochs", "2")  # the holder has gone: stale
    assert proc.returncode == 0, proc.stderr[-2000:]
    epochs = [
        json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
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
    from keraslab.callbacks import StopOnNonFinite
    from keraslab.errors import UserError

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
    epochs = [
        json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2]
