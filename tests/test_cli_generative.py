"""CLI for the vae, autoencoder and conditional GAN recipes: train, sample by label, reconstruct
a user's images, and one-line errors (exit 2, nothing written) for input that does not fit."""

import json
import re

import numpy as np
import pytest

from browser import REPORT_SECTIONS, open_page
from helpers import assert_one_line_error, read_images, read_scalars, run_cli, snapshot

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--batch-size", "64", "--quiet", "--epochs", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    run_cli(
        "train", "vae", *TINY, "--latent-dim", "2", "--ll-images", "10", "--out", out, check=True
    )
    run_cli("train", "wgan-gp", *TINY, "--subset", "128", "--n-critic", "1", "--conditional",
            "--out", out, check=True)  # fmt: skip
    run_cli("train", "autoencoder", *TINY, "--epochs", "2", "--noise", "gaussian",
            "--tensorboard", "--out", out, check=True)  # fmt: skip
    return {p.name.rsplit("-", 2)[0]: p for p in sorted(out.iterdir())}  # a fixed order


def test_runs_record_their_settings(runs):
    vae = json.loads((runs["vae"] / "config.json").read_text())
    assert vae["recipe"] == "vae" and vae["latent_dim"] == 2 and vae["binarize"] == "dynamic"
    assert vae["backend"] == "tensorflow"  # the recipe's measured default (KERAS_BACKEND unset)
    assert vae["precision"] == "float32"
    assert vae["prior"] == "mixture" and vae["prior_components"] == 25  # sampled from the codes
    wgan = json.loads((runs["wgan-gp"] / "config.json").read_text())
    assert wgan["conditional"] is True and wgan["n_critic"] == 1 and wgan["gp_weight"] == 10.0
    assert wgan["backend"] == "tensorflow"
    summary = json.loads((runs["vae"] / "summary.json").read_text())
    assert summary["nll_k"] == 200 and summary["nll_images"] == 10


def test_sample_by_label_and_from_latents(runs, tmp_path):
    from PIL import Image

    out = tmp_path / "sevens.png"
    run_cli("sample", runs["wgan-gp"], "--label", "7", "--n", "8", "--out", out, check=True)
    assert Image.open(out).size[0] > 0
    np.save(tmp_path / "z.npy", np.zeros((3, 2), "float32"))
    out = tmp_path / "decoded.png"
    run_cli("sample", runs["vae"], "--latents", tmp_path / "z.npy", "--out", out, check=True)
    assert Image.open(out).size[0] > 0


def test_reconstruct_user_images(runs, tmp_path):
    from PIL import Image

    np.save(tmp_path / "mine.npy", np.random.default_rng(0).integers(0, 256, (5, 8, 8), "uint8"))
    out = tmp_path / "recon.png"
    run_cli("sample", runs["autoencoder"], "--images", tmp_path / "mine.npy", "--out", out,
            check=True)  # fmt: skip
    # input | noisy | output rows of the 5 images (8x8, 2 px padding, scaled x2)
    assert Image.open(out).size == (2 * (5 * 10 + 2), 2 * (3 * 10 + 2))


@pytest.mark.parametrize(
    "recipe, args, fragments",
    [
        ("vae", ["--label", "3"], ["--label", "unconditional"]),
        ("autoencoder", ["--label", "3"], ["--label"]),
        ("wgan-gp", ["--label", "12"], ["--label", "0..9"]),
        ("vae", ["--latents", "{z3}"], ["(4, 3)", "(n, 2)"]),
        ("wgan-gp", ["--latents", "{z3}"], ["(4, 3)", "(n, 64)"]),
        ("vae", ["--images", "{rgb}"], ["(32, 32, 3)", "(8, 8, 1)"]),
        ("autoencoder", ["--images", "{rgb}"], ["(32, 32, 3)", "(8, 8, 1)"]),
        ("wgan-gp", ["--images", "{ok}"], ["--images"]),
        ("vae", ["--images", "{missing}"], ["does not exist"]),
        ("vae", ["--images", "{text}"], ["not a numpy"]),
    ],
)
def test_sample_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, recipe, args, fragments):
    files = {
        "z3": tmp_path / "z3.npy",
        "rgb": tmp_path / "rgb.npy",
        "ok": tmp_path / "ok.npy",
        "missing": tmp_path / "nope.npy",
        "text": tmp_path / "text.npy",
    }
    np.save(files["z3"], np.zeros((4, 3), "float32"))
    np.save(files["rgb"], np.zeros((4, 32, 32, 3), "float32"))
    np.save(files["ok"], np.zeros((4, 8, 8, 1), "float32"))
    files["text"].write_text("not numpy")
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    before = snapshot(runs[recipe])
    proc = run_cli("sample", runs[recipe], *args, "--out", tmp_path / "x.png")
    assert_one_line_error(proc, *fragments)
    assert snapshot(runs[recipe]) == before and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "vae", "--n-critic", "3"], ["--n-critic", "vae"]),
        (["train", "dcgan", "--noise", "gaussian"], ["--noise", "dcgan"]),
        (["train", "vae", "--likelihood", "gaussian"], ["--binarize none"]),
        (["train", "autoencoder", "--noise", "masking", "--noise-amount", "1.5"], ["amount"]),
        (["train", "vae", "--beta", "-1"], ["--beta"]),
        (["train", "vae", "--subset", "20", "--prior-components", "30"], ["--prior-components"]),
        (["train", "vae", "--prior-components", "201"], ["--prior-components", "200"]),
    ],
)
def test_train_bad_options(tmp_path, args, fragments):
    out = tmp_path / "o"
    assert_one_line_error(run_cli(*args, "--out", out), *fragments)
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_vae_reports_elbo_and_nll(runs):
    proc = run_cli("evaluate", runs["vae"], "--ll-images", "8", "--k", "20", check=True)
    assert "ELBO" in proc.stdout and "NLL" in proc.stdout
    result = json.loads((runs["vae"] / "evaluation.json").read_text())["likelihood-last"]
    assert result["nll_k"] == 20 and result["nll_images"] == 8
    assert -result["nll"] >= result["test_elbo"] - 5  # log p(x) >= ELBO, up to noise
    assert_one_line_error(run_cli("evaluate", runs["wgan-gp"], "--k", "5"), "--k", "vae")


def test_plot_draws_both_networks_of_a_gan(runs, tmp_path):
    from PIL import Image

    out = tmp_path / "gan.png"
    run_cli("plot", runs["wgan-gp"], "--out", out, "--backend", "torch", check=True)
    assert Image.open(out).size[0] > Image.open(out).size[1]  # generator | critic, side by side


def test_every_run_has_a_page_that_loads_in_a_browser(runs, tmp_path):
    for name in ("vae", "wgan-gp", "autoencoder"):
        seen = open_page(runs[name] / "report.html", tmp_path / f"{name}.png")
        assert seen["problems"] == [] and seen["broken_images"] == [], (name, seen)
        assert seen["sections"] == REPORT_SECTIONS and not seen["blank"], (name, seen)
        assert seen["images"] >= 1, (name, seen)  # the samples or reconstructions, last epoch
    seen = open_page(runs["autoencoder"] / "report.html", tmp_path / "ae.png")
    assert seen["slider"]["after"] == "epoch 1" and seen["slider"]["loaded"], seen
    out = tmp_path / "compare.html"
    run_cli("compare", *runs.values(), "--out", out, check=True)
    seen = open_page(out, tmp_path / "compare.png")
    assert seen["problems"] == [] and seen["broken_images"] == [] and not seen["blank"], seen
    assert seen["images"] == 4 and "curves" in seen["sections"], seen  # vae: 2 image folders
    page = out.read_text()
    lacking = re.search(r"critic_loss: not logged by ([^<]*)<", page)  # a GAN metric, missing
    assert lacking and sorted(x.split("-")[0] for x in lacking[1].split(", ")) == [
        "autoencoder", "vae"
    ], page  # fmt: skip


def test_the_page_shows_the_evaluation_and_tensorboard_has_the_log(runs):
    summary = json.loads((runs["vae"] / "summary.json").read_text())
    page = (runs["vae"] / "report.html").read_text()
    assert f"{summary['nll']:.4g}" in page
    lines = [
        json.loads(x) for x in (runs["autoencoder"] / "metrics.jsonl").read_text().splitlines()
    ]
    assert all(r["samples_per_second"] > 0 and r["peak_rss_mb"] > 100 for r in lines)
    events = runs["autoencoder"] / "tensorboard"
    train, val = read_scalars(events / "train"), read_scalars(events / "validation")
    for key in ("loss", "seconds", "samples_per_second", "peak_rss_mb"):
        assert [v for _, v in train[f"epoch_{key}"]] == pytest.approx([r[key] for r in lines])
    assert [v for _, v in val["epoch_loss"]] == pytest.approx([r["val_loss"] for r in lines])
    assert [step for step, _ in read_images(events / "samples")["reconstructions"]] == [0, 1]
