"""`keraslab train --distribute` end to end (jax backend, simulated CPU devices, processes on
127.0.0.1): the same losses as one device, resumable, process 0 alone writes, and bad input
as one line."""

import json
import socket
import subprocess
import sys

import pytest

from helpers import assert_one_line_error, cli_env, run_cli, snapshot

pytest.importorskip("jax")
pytestmark = pytest.mark.slow
SMALL = ["train", "autoencoder", "--kind", "dense", "--subset", "256", "--batch-size", "32",
         "--backend", "jax", "--quiet"]  # fmt: skip


def _devices(n: int) -> dict:
    return {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "OMP_NUM_THREADS": "1"}


def _metrics(out):
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run, [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_data_parallel_run_logs_the_single_device_losses_and_resumes(tmp_path):
    one, four = tmp_path / "one", tmp_path / "four"
    run_cli(*SMALL, "--epochs", "1", "--out", one, env=_devices(1), check=True)
    run_cli(*SMALL, "--epochs", "1", "--out", four, "--distribute", "data-parallel",
            "--devices", "4", env=_devices(4), check=True)  # fmt: skip
    (_, a), (run, b) = _metrics(one), _metrics(four)
    for key in ("loss", "val_loss"):  # float32 sums in another order: agree to ~1e-6
        assert b[0][key] == pytest.approx(a[0][key], rel=1e-5), key
    summary = json.loads((run / "summary.json").read_text())
    assert (
        summary["distribute"]["mode"] == "data-parallel" and summary["distribute"]["devices"] == 4
    )
    proc = run_cli("train", "--resume", run, "--epochs", "2", "--distribute", "data-parallel",
                   "--quiet", env=_devices(4))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, rows = _metrics(four)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["loss"] < rows[0]["loss"]


def test_two_processes_write_one_run(tmp_path):
    out = tmp_path / "runs"
    port = _free_port()
    base = [sys.executable, "-m", "keraslab.cli", *SMALL, "--epochs", "1", "--out", str(out),
            "--distribute", "data-parallel", "--coordinator", f"127.0.0.1:{port}",
            "--num-processes", "2", "--process-id"]  # fmt: skip
    env = cli_env(_devices(2))
    procs = [subprocess.Popen([*base, str(i)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (0, 1)]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    run, rows = _metrics(out)  # exactly one run folder
    assert len(rows) == 1 and rows[0]["loss"] > 0
    assert (run / "checkpoints" / "last.npz").is_file()


@pytest.mark.parametrize(
    "extra, env, fragments",
    [
        (["--backend", "torch", "--distribute", "data-parallel"], {},
         ["runs on the jax backend only", "--backend jax"]),
        (["--devices", "2"], {}, ["--devices: add --distribute"]),
        (["--distribute", "data-parallel", "--batch-size", "30"], _devices(4),
         ["--batch-size 30 does not divide over 4 devices", "multiple of 4"]),
        (["--distribute", "model-parallel"], _devices(2),
         ["shards Transformer weights", "--distribute data-parallel"]),
        (["--distribute", "data-parallel", "--devices", "8"], _devices(2),
         ["8 devices asked for but 2 visible", "xla_force_host_platform_device_count"]),
    ],
)  # fmt: skip
def test_bad_distribution_is_one_line_and_writes_nothing(tmp_path, extra, env, fragments):
    out = tmp_path / "runs"
    args = [a for a in SMALL if a not in ("--backend", "jax")] if "--backend" in extra else SMALL
    proc = run_cli(*args, *extra, "--out", out, env={**env, "KERAS_BACKEND": "jax"}
                   if env else None)  # fmt: skip
    assert_one_line_error(proc, *fragments)
    assert snapshot(out) == {}


def test_a_coordinator_that_does_not_answer_is_one_line_after_the_timeout(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli(*SMALL, "--out", out, "--distribute", "data-parallel", "--coordinator",
                   f"127.0.0.1:{_free_port()}", "--num-processes", "2", "--process-id", "1",
                   "--coordinator-timeout", "2", env=_devices(1), timeout=120)  # fmt: skip
    assert_one_line_error(proc, "did not answer in 2 s", "start process 0 first")
    assert snapshot(out) == {}
