"""CLI of the elmo recipe on small files the test makes: pretraining lowers both directions'
perplexity, --resume continues, `keraslab embed` prints or saves contextual vectors (a word's
differ between contexts), `text-classifier --init ELMO_RUN` learns, and bad input gets one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import assert_one_line_error, prose, run_cli, sentiment_csv

pytestmark = pytest.mark.slow

SMALL = ["--embedding-dim", "24", "--layers", "2", "--batch-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("elmo")


@pytest.fixture(scope="module")
def elmo_run(folder):
    text = folder / "prose.txt"
    text.write_text(prose(1600, 0), encoding="utf-8")
    out = folder / "elmo"
    run_cli("train", "elmo", "--text", text, "--epochs", "2", "--vocab-size", "150",
            "--sequence-length", "48", *SMALL, "--out", out,
            check=True)  # fmt: skip
    (path,) = out.iterdir()
    return path


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_pretraining_logs_and_lowers_both_perplexities_and_resumes(elmo_run, folder):
    rows = _rows(elmo_run)
    assert [r["epoch"] for r in rows] == [1, 2]
    for d in ("forward", "backward"):
        assert rows[-1][f"val_{d}_perplexity"] < rows[0][f"val_{d}_perplexity"] < 150
        assert np.isclose(rows[-1][f"val_{d}_perplexity"], np.exp(rows[-1][f"val_{d}_loss"]))
    ev = run_cli("evaluate", elmo_run, check=True).stdout
    assert "perplexity forward" in ev and "backward" in ev
    copy = folder / "resumed"
    shutil.copytree(elmo_run, copy)
    run_cli("train", "--resume", copy, "--epochs", "3", "--quiet", check=True)
    rows3 = _rows(copy)
    assert [r["epoch"] for r in rows3] == [1, 2, 3]
    assert rows3[2]["val_loss"] < rows3[1]["val_loss"]


def test_embed_prints_and_saves_contextual_vectors(elmo_run, folder):
    out = run_cli("embed", elmo_run, "the garden", check=True).stdout.splitlines()
    assert [line.split("\t")[0] for line in out] == ["'the'", "'garden'"]
    assert len(out[0].split("\t")[1].split()) == 48  # [forward; backward] of width 24
    npy = folder / "v.npy"
    texts = ["the quiet garden", "a letter near the garden"]
    run_cli("embed", elmo_run, *texts, "--out", npy, check=True)
    v = np.load(npy)
    assert v.shape[0] == 2 and v.shape[2] == 48
    printed = [float(x) for x in out[0].split("\t")[1].split()]  # 'the' of "the garden"
    # 'garden' after "the quiet" and after "a letter near the": different ELMo vectors, the
    # same token embedding (layer 0)
    every = folder / "all.npy"
    run_cli("embed", elmo_run, *texts, "--layer", "all", "--out", every, check=True)
    a = np.load(every)
    assert a.shape[:2] == (2, 3)
    tokens = [
        [
            line.split("\t")[0]
            for line in run_cli("embed", elmo_run, t, check=True).stdout.splitlines()
        ]
        for t in texts
    ]
    i, j = len(tokens[0]) - 1, len(tokens[1]) - 1  # 'garden' ends both
    assert tokens[0][i] == tokens[1][j]
    np.testing.assert_allclose(a[0, 0, i], a[1, 0, j], atol=1e-6)
    assert np.abs(a[0, 2, i] - a[1, 2, j]).max() > 1e-3
    # a text's first token does not see what follows in the forward half, does in the backward
    np.testing.assert_allclose(printed[:24], v[0, 0, :24], atol=2e-4)
    assert np.abs(np.array(printed[24:]) - v[0, 0, 24:]).max() > 1e-3
    # bad input: an empty text, an existing --out, a layer the run lacks
    assert_one_line_error(run_cli("embed", elmo_run, " "), "empty")
    assert_one_line_error(run_cli("embed", elmo_run, "the", "--out", npy), "exists")
    assert_one_line_error(run_cli("embed", elmo_run, "the", "--layer", "7"), "layers 0 .. 2")


def test_char_level_run_refuses_unseen_characters(folder):
    text = folder / "chars.txt"
    text.write_text(prose(400, 2), encoding="utf-8")
    out = folder / "elmo-char"
    run_cli("train", "elmo", "--text", text, "--level", "char", "--epochs", "1",
            "--sequence-length", "40", *SMALL, "--out", out, check=True)  # fmt: skip
    (run,) = out.iterdir()
    line = run_cli("embed", run, "the", check=True).stdout.splitlines()
    assert [x.split("\t")[0] for x in line] == ["'t'", "'h'", "'e'"]
    assert_one_line_error(run_cli("embed", run, "the Zebra€"), "€")
    # the classifier reads subwords: a character-level run is refused for --init
    csv = sentiment_csv(folder / "s.csv", n=60)
    assert_one_line_error(run_cli("train", "text-classifier", "--csv", csv, "--label-column",
                                  "label", "--text-column", "tweet", "--init", run, "--out",
                                  folder / "x"), "character-level")  # fmt: skip
    assert not (folder / "x").exists()


def test_classifier_on_elmo_features(folder):
    # ELMo pretrained on unlabelled texts of the domain (their words), then fine-tuned
    csv = sentiment_csv(folder / "sentiment.csv")
    unlabelled = sentiment_csv(folder / "unlabelled.csv", n=1500, seed=5).read_text()
    texts = folder / "unlabelled.txt"
    texts.write_text("\n\n".join(r.split(",", 1)[1] for r in unlabelled.splitlines()[1:]))
    run_cli("train", "elmo", "--text", texts, "--epochs", "2", "--vocab-size", "150",
            "--sequence-length", "32", *SMALL, "--out", folder / "elmo-domain", check=True)  # fmt: skip
    (elmo_run,) = (folder / "elmo-domain").iterdir()
    out = folder / "clf"
    proc = run_cli("train", "text-classifier", "--csv", csv, "--label-column", "label",
                   "--text-column", "tweet", "--init", elmo_run, "--imbalance", "class-weight",
                   "--epochs", "6", "--learning-rate", "0.005", "--quiet", "--out", out,
                   check=True)  # fmt: skip
    assert "fine-tuned" in proc.stdout
    (clf,) = out.iterdir()
    summary = json.loads((clf / "summary.json").read_text())
    assert summary["test_macro_f1"] > 0.8  # one cue word decides the class
    labels = run_cli("classify", clf, "the letter was great", "awful garden", check=True).stdout
    assert [line.split("\t")[0] for line in labels.splitlines()] == ["positive", "negative"]
    # --init a run of another kind; --freeze-init without an elmo run
    assert_one_line_error(run_cli("train", "text-classifier", "--csv", csv, "--init", clf,
                                  "--out", folder / "x"), "not a bert-mlm or elmo run")  # fmt: skip
    assert_one_line_error(run_cli("train", "text-classifier", "--csv", csv, "--freeze-init",
                                  "--out", folder / "x"), "--freeze-init needs --init")  # fmt: skip
    assert not (folder / "x").exists()
