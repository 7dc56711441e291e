"""Runs written by an older keraslab (tests/fixtures/old_runs, see its README.txt: commit
fa77ad4, before the recipes/CLI refactor) still work through the CLI: they resume to a second
epoch, sample / generate / classify from their one-epoch checkpoint, and evaluate. Each test
works on a copy in tmp_path; the fixtures themselves are never written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "old_runs"

# recipe -> the backend it was trained on (config.json; resume, sample, evaluate keep it)
BACKENDS = {"dcgan": "torch", "autoencoder": "jax", "gpt": "torch", "text-classifier": "torch"}
# config.json keys holding the absolute path of a source file that sits next to the run
SOURCES = {"gpt": ("text", "prose.txt"), "text-classifier": ("csv", "sentiment.csv")}
# runs whose best.npz (a byte copy of last.npz after one epoch) was left out of the fixture
HAD_BEST = ("autoencoder", "gpt", "text-classifier")


def _old_run(recipe: str, tmp_path: Path) -> Path:
    """A copy of the old run of ``recipe`` in tmp_path, as the old code left it on its disk:
    best.npz put back, and the source file's path in config.json pointing at the copy."""
    run = tmp_path / "runs" / recipe
    shutil.copytree(FIXTURES / recipe, run)
    if recipe in HAD_BEST:
        shutil.copyfile(run / "checkpoints" / "last.npz", run / "checkpoints" / "best.npz")
    if recipe in SOURCES:
        key, name = SOURCES[recipe]
        config = json.loads((run / "config.json").read_text())
        config[key] = str(run / name)
        (run / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return run


def _checkpoint_epoch(path: Path) -> int:
    with np.load(path, allow_pickle=False) as data:
        return json.loads(bytes(data["__header__"]).decode())["epoch"]


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fixtures_are_one_epoch_runs_of_the_recorded_backend():
    for recipe, backend in BACKENDS.items():
        run = FIXTURES / recipe
        config = json.loads((run / "config.json").read_text())
        assert config["recipe"] == recipe and config["backend"] == backend and config["epochs"] == 1
        assert _checkpoint_epoch(run / "checkpoints" / "last.npz") == 1
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == [1]


@pytest.mark.parametrize("recipe", list(BACKENDS))
def test_old_run_resumes_to_a_second_epoch(recipe, tmp_path):
    run = _old_run(recipe, tmp_path)
    old_first_line = (run / "metrics.jsonl").read_text().splitlines()[0]
    proc = run_cli("train", "--resume", run, "--epochs", "2", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert lines[0] == old_first_line  # the old epoch's row is kept as it was
    assert _checkpoint_epoch(run / "checkpoints" / "last.npz") == 2
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 2 and config["backend"] == BACKENDS[recipe]


def test_old_dcgan_samples(tmp_path):
    run = _old_run("dcgan", tmp_path)
    out = tmp_path / "x.png"
    run_cli("sample", run, "--n", "4", "--out", out, cwd=tmp_path, check=True)
    assert _is_png(out)
    # no `evaluate`: digits has no shipped classifier, and --extractor inception is slow on CPU


def test_old_autoencoder_samples_and_evaluates(tmp_path):
    run = _old_run("autoencoder", tmp_path)
    out = tmp_path / "x.png"
    run_cli("sample", run, "--n", "3", "--out", out, cwd=tmp_path, check=True)
    assert _is_png(out)
    proc = run_cli("evaluate", run, "--n", "100", cwd=tmp_path, check=True)
    assert "test bce" in proc.stdout


def test_old_gpt_generates_and_evaluates(tmp_path):
    run = _old_run("gpt", tmp_path)
    proc = run_cli("generate", run, "--prompt", "The quiet", "--max-tokens", "20", "--seed", "0",
                   cwd=tmp_path, check=True)  # fmt: skip
    assert proc.stdout.startswith("The quiet") and len(proc.stdout) > len("The quiet")
    proc = run_cli("evaluate", run, cwd=tmp_path, check=True)
    assert "perplexity" in proc.stdout


def test_old_text_classifier_classifies_and_evaluates(tmp_path):
    run = _old_run("text-classifier", tmp_path)
    texts = ["the letter was great", "awful garden"]
    proc = run_cli("classify", run, cwd=tmp_path, check=True, input="\n".join(texts) + "\n")
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[2] for r in rows] == texts
    assert all(r[0] in ("negative", "neutral", "positive") and 0 <= float(r[1]) <= 1 for r in rows)
    proc = run_cli("evaluate", run, cwd=tmp_path, check=True)
    assert "macro-F1" in proc.stdout


@pytest.mark.parametrize("recipe", ["dcgan", "wgan-gp"])
def test_runs_from_before_the_dcgan_preset_keep_the_course_networks(recipe):
    from dataclasses import asdict

    from keraslab.recipes import load_recipe

    r = load_recipe(recipe)
    assert r.Config().arch == "dcgan"  # a new run's default
    saved = asdict(r.Config())
    del saved["arch"]  # a config.json written before the option existed
    assert r.config_from_run(saved).arch == "lecture"
    assert r.config_from_run({**saved, "arch": "dcgan"}).arch == "dcgan"
    assert r.config_from_run({**saved, "arch": "lecture"}).arch == "lecture"


def test_vae_runs_from_before_the_mixture_prior_sample_from_n01():
    from dataclasses import asdict

    from keraslab.recipes import load_recipe

    r = load_recipe("vae")
    assert r.Config().prior == "mixture"  # a new run's default
    saved = asdict(r.Config())
    del saved["prior"], saved["prior_components"]  # a config.json written before the options
    config = r.config_from_run(saved)
    assert config.prior == "standard"
    assert r.build_model(config).prior_components == 0  # the old checkpoint's variables
    assert r.build_model(r.Config()).prior_components == 25
