"""CLI of the translator recipe on a toy TSV language: train, resume, translate (arguments and
stdin, greedy and beam), evaluate (BLEU/chrF), and one-line exit-2 errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import assert_one_line_error, make_pairs, run_cli, snapshot, write_pairs

pytestmark = pytest.mark.slow

TINY = ["--epochs", "3", "--vocab-size", "200", "--layers", "1", "--embedding-dim", "32",
        "--num-heads", "2", "--intermediate-dim", "64", "--warmup-steps", "20",
        "--learning-rate", "0.005", "--val-sentences", "20", "--batch-size", "50",
        "--max-tokens", "24", "--quiet", "--backend", "torch"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translator")
    tsv = write_pairs(folder / "toy.tsv", make_pairs(1200, seed=0))
    out = folder / "runs"
    proc = run_cli("train", "translator", "--pairs", tsv, *TINY, "--out", out, check=True)
    assert "test (" in proc.stdout
    (path,) = out.iterdir()
    return path


def test_run_holds_config_tokenizer_checkpoints_samples_and_scores(run):
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == "translator" and config["pairs"].endswith("toy.tsv")
    assert config["layers"] == 1 and config["backend"] == "torch"  # --backend beats the default
    for name in (
        "tokenizer.json",
        "checkpoints/last.npz",
        "samples/epoch_003.txt",
        "val_chrf_curve.png",
    ):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["translator_loss"] < rows[0]["translator_loss"]
    assert rows[-1]["val_chrf"] > rows[0]["val_chrf"]
    summary = json.loads((run / "summary.json").read_text())
    assert 0 <= summary["test_bleu"] <= 100 and summary["test_chrf"] > 20
    text = (run / "samples" / "epoch_003.txt").read_text(encoding="utf-8")
    assert "EN   the" in text and "REF  el" in text and "OUT  " in text
    import html

    page = html.unescape((run / "report.html").read_text(encoding="utf-8"))
    assert text.splitlines()[1] in page  # the last epoch's sample translations on the page
    assert f"{summary['test_chrf']:.4g}" in page and "val_chrf" in page


def test_translate_arguments_stdin_and_beam(run):
    one = run_cli("translate", run, "the big dog sees the cat .", check=True)
    assert len(one.stdout.splitlines()) == 1 and one.stdout.strip()
    piped = run_cli("translate", run, "--method", "beam", "--beam-width", "3", check=True,
                    input="the dog eats the book .\n\nthe old king has the red bird .\n")  # fmt: skip
    assert len(piped.stdout.splitlines()) == 2  # the blank line is skipped
    nocache = run_cli("translate", run, "--no-cache", "the big dog sees the cat .", check=True)
    assert nocache.stdout == one.stdout


def test_evaluate_reports_bleu_and_chrf_and_keeps_them(run):
    proc = run_cli("evaluate", run, "--n", "30", check=True)
    assert "BLEU" in proc.stdout and "chrF" in proc.stdout
    saved = json.loads((run / "evaluation.json").read_text())
    (entry,) = [v for k, v in saved.items() if k.startswith("greedy-last-30")]
    assert entry["sentences"] == 30 and 0 <= entry["chrf"] <= 100
    assert (run / "test-greedy-last-30.txt").is_file()


def test_resume_adds_epochs(run):
    run_cli("train", "--resume", run, "--epochs", "4", "--quiet", check=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_bad_translate_input_is_one_line(run, tmp_path):
    assert_one_line_error(run_cli("translate", run, ""), "sentence 1 is empty")
    long = " ".join(["the big dog sees the cat ."] * 10)
    assert_one_line_error(run_cli("translate", run, long), "at most 24", "--truncate")
    cut = run_cli("translate", run, "--truncate", long, check=True)
    assert "were cut" in cut.stderr and len(cut.stdout.splitlines()) == 1
    fake = tmp_path / "dcgan-run"
    fake.mkdir()
    (fake / "config.json").write_text(json.dumps({"recipe": "dcgan", "backend": "torch"}))
    assert_one_line_error(run_cli("translate", fake, "hello"), "not a translator")
    assert_one_line_error(run_cli("translate", tmp_path / "nope", "hello"), "not a run folder")
    assert_one_line_error(run_cli("translate", run, input=""), "no sentences")
    assert_one_line_error(run_cli("sample", run), "use `keraslab translate")
    assert_one_line_error(run_cli("evaluate", run, "--extractor", "inception"), "image runs")


def test_bad_training_input_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "runs"
    bad = tmp_path / "bad.tsv"
    bad.write_text("the dog\tel perro\nno tab here\n" + "a\tb\n" * 30, encoding="utf-8")
    before = snapshot(tmp_path)
    assert_one_line_error(run_cli("train", "translator", "--pairs", bad, "--out", out), "line 2")
    assert_one_line_error(
        run_cli("train", "translator", "--pairs", tmp_path / "missing.tsv", "--out", out),
        "missing.tsv",
    )
    assert_one_line_error(
        run_cli("train", "translator", "--latent-dim", "3", "--out", out), "--latent-dim"
    )
    assert_one_line_error(run_cli("train", "dcgan", "--pairs", bad, "--out", out), "--pairs")
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def back_run(run, tmp_path_factory):
    """The same toy pairs, Spanish to English (--direction es-en)."""
    folder = tmp_path_factory.mktemp("translator-back")
    tsv = write_pairs(folder / "toy.tsv", make_pairs(1200, seed=0))
    out = folder / "runs"
    run_cli("train", "translator", "--pairs", tsv, "--direction", "es-en", *TINY, "--out", out,
            check=True)  # fmt: skip
    (path,) = out.iterdir()
    return path


def test_direction_es_en_translates_back_and_backtranslation_paraphrases(run, back_run, tmp_path):
    assert json.loads((back_run / "config.json").read_text())["direction"] == "es-en"
    text = (back_run / "samples" / "epoch_003.txt").read_text(encoding="utf-8")
    assert "EN   el" in text and "REF  the" in text  # Spanish sources, English references
    english = run_cli("translate", back_run, "el perro grande ve el gato .", check=True).stdout
    assert english.split()[0] == "the"
    source = tmp_path / "in.txt"
    source.write_text("the big dog sees the cat .\nthe old king has the red bird .\n")
    out = tmp_path / "paraphrases.txt"
    proc = run_cli("augment", "text", source, "--method", "backtranslate", "--n", "1",
                   "--forward", run, "--back", back_run, "--keep", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "the big dog sees the cat ." and lines[2].startswith("the old king")
    for paraphrase in (lines[1], lines[3]):  # English again, through Spanish
        assert paraphrase.split()[0] == "the" and not {"el", "ve"} & set(paraphrase.split())
    wrong = run_cli("augment", "text", source, "--method", "backtranslate", "--n", "1",
                    "--forward", run, "--back", run, "--out", tmp_path / "x.txt")  # fmt: skip
    assert_one_line_error(wrong, "both runs are en-es", "--direction es-en")
    assert_one_line_error(
        run_cli("augment", "text", source, "--method", "backtranslate", "--out", tmp_path / "y"),
        "needs --forward RUN",
    )
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "y").exists()


def test_text_classifier_augment_backtranslate_adds_one_paraphrase_per_training_text(
    run, back_run, tmp_path
):
    rng = np.random.default_rng(0)
    sentences = [s for s, _ in make_pairs(200, seed=5)]  # the toy English the translators know
    csv = tmp_path / "toy.csv"
    csv.write_text("label,text\n" + "".join(f"{rng.choice(['a', 'b'])},{s}\n" for s in sentences))
    out = tmp_path / "runs"
    proc = run_cli("train", "text-classifier", "--csv", csv, "--label-column", "label",
                   "--augment", "backtranslate", "--forward", run, "--back", back_run,
                   "--epochs", "1", "--vocab-size", "100", "--layers", "1", "--embedding-dim",
                   "16", "--num-heads", "2", "--intermediate-dim", "32", "--quiet", "--out", out,
                   check=True)  # fmt: skip
    data_line = next(line for line in proc.stdout.splitlines() if line.startswith("data: "))
    train = int(data_line.split("train ")[1].split(",")[0])
    assert f"training on {2 * train:,} labelled texts" in proc.stdout  # one paraphrase each
    assert f"{train:,} texts and a back-translation of each" in proc.stdout
    assert_one_line_error(
        run_cli(
            "train",
            "text-classifier",
            "--augment",
            "backtranslate",
            "--forward",
            run,
            "--out",
            tmp_path / "x",
        ),  # fmt: skip
        "needs --forward RUN",
    )


def test_plot_traces_the_encoder_and_decoder(run, tmp_path):
    from PIL import Image

    out = tmp_path / "translator.png"
    run_cli("plot", run, "--out", out, "--backend", "torch", check=True)
    # the diagram goes from the two inputs through embeddings, blocks and norms: a dozen boxes
    width, height = Image.open(out).size
    assert height > width and height > 1000
