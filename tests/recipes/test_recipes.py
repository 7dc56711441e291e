"""Every image recipe trains, logs, draws its pictures, resumes and samples on the current
backend (run once per backend), at small sizes on the 8x8 digits."""

import json

import numpy as np
import pytest
from PIL import Image

from keraslab.recipes import load_recipe

pytestmark = [pytest.mark.backend, pytest.mark.slow]


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _train(name, tmp_path, **settings):
    recipe = load_recipe(name)
    config = recipe.Config(dataset="digits", batch_size=64, seed=0, **settings)
    summary = recipe.train(config, out=str(tmp_path), verbose=0, echo=lambda *a: None)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith(recipe.name)]
    return recipe, run_dir, summary


def test_vae_recipe_loss_falls_and_pictures(tmp_path):
    recipe, run, summary = _train("vae", tmp_path, epochs=3, latent_dim=2, ll_images=20)
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["vae_loss"] < rows[0]["vae_loss"]
    assert rows[-1]["test_elbo"] > rows[0]["test_elbo"]  # higher is better
    # log-likelihood is at least the ELBO (both on the same fixed binarised test images).
    assert -summary["nll"] >= summary["test_elbo"] - 3 * summary["nll_stderr"]
    for name in ("traversal.png", "test_elbo_curve.png", "samples/epoch_003.png"):
        assert (run / name).is_file(), name
    traversal = Image.open(run / "traversal.png")
    assert traversal.width == traversal.height  # 15 x 15 manifold for a 2-D latent
    grid = recipe.sample(str(run), n=9, out=str(tmp_path / "s.png"))
    assert Image.open(grid).size[0] > 0


def test_autoencoder_recipe_denoising_with_2d_codes(tmp_path):
    recipe, run, summary = _train(
        "autoencoder", tmp_path, epochs=3, kind="dense", latent_dim=2, noise="masking"
    )
    rows = _rows(run)
    assert rows[-1]["loss"] < rows[0]["loss"] and rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert (run / "codes.png").is_file() and (run / "val_loss_curve.png").is_file()
    # input | noisy | output: three rows of 10 images of 8x8 (2 px padding, scaled x2).
    recon = Image.open(run / "reconstructions" / "epoch_003.png")
    assert recon.size == (2 * (10 * 10 + 2), 2 * (3 * 10 + 2))
    assert summary["test_loss"] == pytest.approx(rows[-1]["val_loss"], rel=1e-4)
    out = recipe.sample(str(run), n=4, out=str(tmp_path / "r.png"))
    assert Image.open(out).size == (2 * (4 * 10 + 2), 2 * (3 * 10 + 2))


@pytest.mark.parametrize("name", ["dcgan", "wgan-gp"])
def test_conditional_gan_recipes_resume_and_sample_by_label(name, tmp_path):
    settings = {"n_critic": 2} if name == "wgan-gp" else {}
    recipe, run, _ = _train(name, tmp_path, epochs=1, subset=320, conditional=True, **settings)
    rows = _rows(run)
    assert all(np.isfinite(v) for k, v in rows[0].items() if k.endswith("loss"))
    recipe.resume(str(run), epochs=2, verbose=0, echo=lambda *a: None)
    assert [r["epoch"] for r in _rows(run)] == [1, 2]
    model, _ = recipe.load_model(__import__("keraslab.runs").runs.open_run(run))
    sevens = model.sample(4, seed=0, label=7)
    threes = model.sample(4, seed=0, label=3)
    assert sevens.shape == (4, 8, 8, 1) and np.abs(sevens - threes).mean() > 1e-4
    path = recipe.sample(str(run), n=10, label=7, out=str(tmp_path / "sevens.png"))
    assert path.is_file()


# dcgan shares wgan-gp's generator and critic calls (ImageGAN); the autoencoder is Keras's own
# compile/fit path.
@pytest.mark.parametrize("name", ["wgan-gp", "vae", "autoencoder"])
def test_bfloat16_trains_finite_and_resumes(name, tmp_path):
    """--precision bfloat16: layers compute in bf16 with float32 weights, losses stay finite,
    the run resumes, and the global dtype policy is left as it was."""
    import keras

    from keraslab.errors import UserError

    if keras.backend.backend() == "torch":  # refused in one line, nothing written
        with pytest.raises(UserError, match="bfloat16 does not train on the torch backend"):
            _train(name, tmp_path, epochs=1, precision="bfloat16")
        assert not any(tmp_path.iterdir())
        if name == "wgan-gp":  # a bfloat16 run (made elsewhere) is not resumed on torch either
            recipe, run, _ = _train(name, tmp_path, epochs=1, subset=128, n_critic=1)
            config = json.loads((run / "config.json").read_text())
            (run / "config.json").write_text(json.dumps({**config, "precision": "bfloat16"}))
            with pytest.raises(UserError, match="trains in bfloat16 .its config.json."):
                recipe.resume(str(run), epochs=2, verbose=0, echo=lambda *a: None)
            assert [r["epoch"] for r in _rows(run)] == [1]
        return
    settings = {
        "wgan-gp": {"subset": 128, "n_critic": 2},
        "vae": {"subset": 256, "ll_images": 8},
        "autoencoder": {"subset": 128, "kind": "conv"},
    }[name]
    recipe, run, _ = _train(name, tmp_path, epochs=1, precision="bfloat16", **settings)
    assert keras.config.dtype_policy().name == "float32"  # the run left the global policy alone
    recipe.resume(str(run), epochs=2, verbose=0, echo=lambda *a: None)
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    losses = [v for r in rows for k, v in r.items() if k.endswith("loss")]
    assert losses and all(np.isfinite(losses))
    model, config = recipe.load_model(__import__("keraslab.runs").runs.open_run(run))
    assert config.precision == "bfloat16"
    network = getattr(model, "generator", None) or model.decoder
    computes = {layer.compute_dtype for layer in network.layers if layer.weights}
    assert computes == {"bfloat16"}
    assert {v.dtype for v in network.weights} == {"float32"}
