"""The command line end to end (subprocesses on the default backend): runs, resume after
SIGKILL, sample, evaluate, and one-line errors for bad input that write nothing."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli, snapshot

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    run_cli("train", "dcgan", *TINY, "--epochs", "1", "--out", out, check=True)
    (run,) = list(out.iterdir())
    return run


def _fresh_copy(run, tmp_path):
    dst = tmp_path / "runs" / run.name
    shutil.copytree(run, dst)
    return dst


def test_list_shows_recipes_and_datasets():
    proc = run_cli("list", check=True)
    assert "dcgan" in proc.stdout
    for name in ("mnist", "fashion_mnist", "digits"):
        assert name in proc.stdout
    assert "installed" in proc.stdout


def test_train_writes_a_complete_run(finished_run):
    cfg = json.loads((finished_run / "config.json").read_text())
    assert cfg["recipe"] == "dcgan" and cfg["dataset"] == "digits" and cfg["epochs"] == 1
    # KERAS_BACKEND unset (run_cli): the recipe's measured default, TensorFlow for dcgan
    assert cfg["backend"] == "tensorflow" and cfg["system"]["keras"]
    rows = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1] and np.isfinite(rows[0]["d_loss"])
    assert (finished_run / "samples" / "epoch_001.png").is_file()
    assert (finished_run / "checkpoints" / "last.npz").is_file()
    assert json.loads((finished_run / "summary.json").read_text())["epochs"] == 1
    assert "complete: 1 epoch(s) logged" in (finished_run / "report.html").read_text()


def test_sample_writes_a_grid_and_refuses_to_overwrite(finished_run, tmp_path):
    from PIL import Image

    out = tmp_path / "grid.png"
    proc = run_cli("sample", finished_run, "--n", "16", "--out", out, check=True)
    assert Path(proc.stdout.strip()) == out
    img = Image.open(out)
    assert img.size[0] > 4 * 8 and img.size[0] == img.size[1]
    before = out.read_bytes()
    assert_one_line_error(run_cli("sample", finished_run, "--out", out), "exists", "--force")
    assert out.read_bytes() == before


def test_resume_extends_with_more_epochs_and_restores_optimizer_state(finished_run, tmp_path):
    run = _fresh_copy(finished_run, tmp_path)
    run_cli("train", "--resume", run, "--epochs", "2", "--quiet", check=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert json.loads((run / "config.json").read_text())["epochs"] == 2


# ------------------------------------------------------------------ bad input
def test_unknown_recipe(tmp_path):
    assert_one_line_error(
        run_cli("train", "nope", "--out", tmp_path / "o"), "unknown recipe", "dcgan"
    )
    assert not (tmp_path / "o").exists()


def test_unknown_dataset(tmp_path):
    assert_one_line_error(
        run_cli("train", "dcgan", "--dataset", "cifar10", "--out", tmp_path / "o"),
        "unknown dataset",
        "mnist",
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["-3", "0", "ten"])
def test_bad_epochs(tmp_path, value):
    assert_one_line_error(
        run_cli("train", "dcgan", "--epochs", value, "--out", tmp_path / "o"), "epochs"
    )
    assert not (tmp_path / "o").exists()


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("mine")
    assert_one_line_error(
        run_cli("train", "dcgan", *TINY, "--out", blocker / "runs"), "not a folder"
    )
    assert blocker.read_text() == "mine"
    if os.geteuid() != 0:  # root may write anywhere; the file case above holds for everyone
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert_one_line_error(run_cli("train", "dcgan", *TINY, "--out", locked), "not writable")
        assert list(locked.iterdir()) == []


def test_resume_path_that_is_not_a_run(tmp_path):
    assert_one_line_error(run_cli("train", "--resume", tmp_path), "not a keraslab run")
    assert_one_line_error(run_cli("train", "--resume", tmp_path / "missing"), "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_checkpoint_is_reported_and_nothing_is_touched(finished_run, tmp_path):
    run = _fresh_copy(finished_run, tmp_path)
    ckpt = run / "checkpoints" / "last.npz"
    data = bytearray(ckpt.read_bytes())
    ckpt.write_bytes(bytes(data[: len(data) // 2]))  # cut in half
    before = snapshot(run)
    assert_one_line_error(run_cli("train", "--resume", run), "corrupt")
    assert_one_line_error(run_cli("sample", run, "--out", tmp_path / "g.png"), "corrupt")
    assert snapshot(run) == before
    assert not (tmp_path / "g.png").exists()


def test_missing_data_package(tmp_path):
    env = {"KERASLAB_FASHION_MNIST_DIR": str(tmp_path / "nowhere")}
    proc = run_cli("train", "dcgan", "--dataset", "fashion-mnist", "--out", tmp_path / "o", env=env)
    assert_one_line_error(proc, "apt-get install -y dataset-fashion-mnist")
    assert not (tmp_path / "o").exists()


def test_sample_bad_run_and_bad_n(finished_run, tmp_path):
    assert_one_line_error(
        run_cli("sample", tmp_path, "--out", tmp_path / "g.png"), "not a keraslab run"
    )
    assert_one_line_error(run_cli("sample", finished_run, "--n", "-1"), "positive integer")


def test_evaluate_reports_fid_and_kid_with_the_extractor_named(finished_run, tmp_path):
    run = _fresh_copy(finished_run, tmp_path)
    env = {"KERASLAB_CACHE": str(tmp_path / "cache")}
    proc = run_cli("evaluate", run, "--extractor", "inception", "--n", "8", env=env, check=True)
    assert "FID" in proc.stdout and "KID" in proc.stdout and "inception features" in proc.stdout
    saved = json.loads((run / "evaluation.json").read_text())
    (result,) = saved.values()
    assert result["extractor"] == "inception" and result["samples"] == 8
    assert np.isfinite(result["fid"]) and result["fid"] > 0
    assert list((tmp_path / "cache" / "features").glob("inception-digits-test-8.npz"))
    # digits has no shipped fast classifier: say so, in one line.
    assert_one_line_error(run_cli("evaluate", run, env=env), "no shipped classifier", "inception")


def test_backend_resolution_order():
    from keraslab.cli import DEFAULT_BACKEND, resolve_backend
    from keraslab.recipes import recipe_info

    # torch measured fastest for the translator too; asset-pricing's tiny model is fastest on jax.
    assert recipe_info("translator").default_backend is None
    assert recipe_info("dcgan").default_backend == "tensorflow"  # XLA: the fastest for dcgan
    jax_default = recipe_info("asset-pricing").default_backend
    assert jax_default == "jax"
    assert resolve_backend(None, jax_default, env={}, installed=lambda b: True) == "jax"
    # A default install has torch only: the recipe's default gives way to keraslab's.
    assert resolve_backend(None, jax_default, env={}, installed=lambda b: False) == DEFAULT_BACKEND
    assert resolve_backend(None, None, env={}) == DEFAULT_BACKEND
    assert resolve_backend(None, jax_default, env={"KERAS_BACKEND": "tensorflow"}) == "tensorflow"
    assert resolve_backend("torch", jax_default, env={"KERAS_BACKEND": "tensorflow"}) == "torch"


def test_backend_installed_checks_the_module():
    from keraslab.cli import backend_installed

    assert backend_installed("torch")  # every install has it (the default backend)
    assert not backend_installed("no_such_backend_module")
