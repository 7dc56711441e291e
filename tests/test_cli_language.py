"""CLI of the language recipes on small files the test makes: gpt (train, generate with and
without the cache, evaluate), bert-mlm pretraining, and text-classifier --init from it (class
weights, macro-F1, confusion matrix, classify); one-line exit-2 errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_one_line_error, cli_env, prose, run_cli, sentiment_csv

pytestmark = pytest.mark.slow

MODEL = ["--layers", "1", "--embedding-dim", "32", "--num-heads", "2", "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("language")


@pytest.fixture(scope="module")
def gpt_run(folder):
    text = folder / "prose.txt"
    text.write_text(prose(1200, 0), encoding="utf-8")
    out = folder / "gpt"
    run_cli("train", "gpt", "--text", text, "--epochs", "2", "--steps-per-epoch", "40",
            "--batch-size", "16", "--sequence-length", "48", "--val-tokens", "3000",
            "--prompt", "The quiet", *MODEL, "--out", out, check=True)  # fmt: skip
    (path,) = out.iterdir()
    return path


def test_gpt_run_learns_and_logs_perplexity(gpt_run):
    rows = [json.loads(line) for line in (gpt_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"] < np.log(30)  # below uniform over chars
    assert np.isclose(rows[-1]["val_perplexity"], np.exp(rows[-1]["val_loss"]), rtol=1e-6)
    sample = (gpt_run / "samples" / "epoch_002.txt").read_text(encoding="utf-8")
    assert "The quiet" in sample and "perplexity" in sample
    ev = run_cli("evaluate", gpt_run, check=True)
    assert "perplexity" in ev.stdout
    assert "test-last" in json.loads((gpt_run / "evaluation.json").read_text())


def test_generate_is_seeded_and_cache_free_output_matches(gpt_run):
    args = ["generate", gpt_run, "--prompt", "The quiet", "--max-tokens", "30", "--top-k", "5"]
    a = run_cli(*args, "--seed", "3", check=True).stdout
    b = run_cli(*args, "--seed", "3", "--no-cache", check=True).stdout
    c = run_cli(*args, "--seed", "4", check=True).stdout
    assert a.startswith("The quiet") and len(a.strip()) == len("The quiet") + 30
    assert a == b  # within the 48-character window the cache changes nothing
    assert a != c


@pytest.mark.parametrize(
    "prompt, fragment",
    [("", "prompt is empty"), ("   ", "prompt is empty"), ("Zürich €", "never saw")],
)
def test_generate_bad_prompts(gpt_run, prompt, fragment):
    assert_one_line_error(run_cli("generate", gpt_run, "--prompt", prompt), fragment)


def test_bert_mlm_then_classifier_init_class_weights_and_classify(folder):
    text = folder / "bert.txt"
    text.write_text(prose(2400, 1), encoding="utf-8")
    bert_out, clf_out = folder / "bert", folder / "clf"
    run_cli("train", "bert-mlm", "--text", text, "--epochs", "2", "--vocab-size", "200",
            "--intermediate-dim", "64", "--sequence-length", "32", *MODEL, "--out", bert_out,
            check=True)  # fmt: skip
    (bert,) = bert_out.iterdir()
    rows = [json.loads(line) for line in (bert / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["val_mlm_loss"] < rows[0]["val_mlm_loss"]
    csv = sentiment_csv(folder / "sentiment.csv")
    proc = run_cli("train", "text-classifier", "--csv", csv, "--label-column", "label",
                   "--text-column", "tweet", "--init", bert, "--imbalance", "class-weight",
                   "--epochs", "6", "--learning-rate", "0.003", "--quiet", "--out", clf_out,
                   check=True)  # fmt: skip
    import re

    counts = dict(re.findall(r"(\w+) (\d+)[,)]", proc.stdout.split("labelled texts (")[1]))
    weights = dict(
        re.findall(r"(\w+) ([\d.]+)", proc.stdout.split("class weights: ")[1].split("\n")[0])
    )
    n = sum(int(v) for v in counts.values())
    for c in ("negative", "neutral", "positive"):  # n / (k * n_c): the rare class weighs most
        assert abs(float(weights[c]) - n / (3 * int(counts[c]))) < 0.006
    assert float(weights["positive"]) > 1 > float(weights["negative"])
    (clf,) = clf_out.iterdir()
    summary = json.loads((clf / "summary.json").read_text())
    assert summary["test_macro_f1"] > 0.8  # one cue word decides the class
    assert (clf / "confusion-test-best.png").read_bytes()[:4] == b"\x89PNG"
    bert.rename(bert.with_name("moved"))  # the classifier run does not need its --init run
    out = run_cli("classify", clf, check=True, input="the letter was great\n\nawful garden\n")
    labels = [line.split("\t")[0] for line in out.stdout.splitlines()]
    assert labels == ["positive", "negative"]  # the blank line is skipped
    # `keraslab classify RUN < many.txt | head -1`: the reader goes away; a quiet exit 0
    many = "".join(f"the letter {i} was great and the garden was lovely\n" for i in range(1500))
    head = subprocess.Popen(
        [sys.executable, "-m", "keraslab.cli", "classify", str(clf)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
    )  # fmt: skip
    head.stdin.write(many.encode())
    head.stdin.close()
    assert head.stdout.readline().startswith(b"positive\t")
    head.stdout.close()  # ~100 KB still to come: more than a pipe's buffer
    err = head.stderr.read().decode()
    assert head.wait() == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    # bad input: wrong --init kind, CSV without the label column
    assert_one_line_error(run_cli("train", "text-classifier", "--csv", csv, "--init", clf,
                                  "--out", folder / "x"), "not a bert-mlm or elmo run")  # fmt: skip
    assert_one_line_error(run_cli("train", "text-classifier", "--csv", csv, "--out",
                                  folder / "x"), "no column 'sentiment'")  # fmt: skip
    assert not (folder / "x").exists()  # nothing written for bad input


def test_text_classifier_augment_eda_grows_the_training_split_only(folder):
    csv = sentiment_csv(folder / "small.csv", n=300, seed=3)
    out = folder / "aug-eda"
    proc = run_cli("train", "text-classifier", "--csv", csv, "--label-column", "label",
                   "--text-column", "tweet", "--augment", "eda", "--augment-copies", "2",
                   "--epochs", "1", "--vocab-size", "200", "--intermediate-dim", "64",
                   *MODEL, "--out", out, check=True)  # fmt: skip
    data_line = next(line for line in proc.stdout.splitlines() if line.startswith("data: "))
    assert "train 240, val 30, test 30" in data_line  # the split itself is not augmented
    count = int(proc.stdout.split("training on ")[1].split(" labelled texts")[0].replace(",", ""))
    assert count == 3 * 240  # each training text and two EDA copies
    assert "240 texts and 2 EDA copies of each" in proc.stdout
    (run,) = out.iterdir()
    assert json.loads((run / "summary.json").read_text())["complete"] is True
