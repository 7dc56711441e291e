"""Recipe ``autoencoder``: dense or convolutional autoencoder, optionally denoising (Gaussian or
masking noise added to every batch in the data pipeline, clean targets).

Outputs: ``reconstructions/epoch_NNN.png`` (rows: input | noisy input | output), the test loss per
epoch (``val_loss``) and its curve, and for a 2-D code ``codes.png``, a scatter plot of the test
codes coloured by class.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from keraslab.callbacks import ReconstructionGrid
from keraslab.data import DataSourceMissing, get_dataset, load
from keraslab.data.noise import NOISES, NoisyImages, add_noise
from keraslab.errors import UserError
from keraslab.models import Autoencoder
from keraslab.recipes.base import ImageConfig, ImageRecipe, user_images
from keraslab.runs import open_run

LOSSES = {"bce": "binary_crossentropy", "mse": "mean_squared_error"}


@dataclass
class Config(ImageConfig):
    """Settings of an autoencoder run (all saved in config.json)."""

    epochs: int = 5
    batch_size: int = 128
    latent_dim: int = 16
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    kind: str = "conv"  # "conv" or "dense"
    noise: str = "none"  # "none", "gaussian" (std = noise_amount), "masking" (fraction)
    noise_amount: float = 0.3
    loss: str = "bce"  # "bce" or "mse"

    def validate(self) -> None:
        super().validate()
        if self.kind not in ("conv", "dense"):
            raise UserError(f"--kind must be 'conv' or 'dense', got {self.kind!r}.")
        if self.noise not in NOISES:
            raise UserError(f"--noise must be one of {', '.join(NOISES)}, got {self.noise!r}.")
        if self.loss not in LOSSES:
            raise UserError(f"--loss must be 'bce' or 'mse', got {self.loss!r}.")
        try:
            add_noise(np.zeros((1, 1)), self.noise, self.noise_amount, np.random.default_rng(0))
        except ValueError as e:
            raise UserError(f"--noise-amount: {e}") from None


class AutoencoderRecipe(ImageRecipe):
    name = "autoencoder"
    Config = Config
    monitor = "val_loss"

    def build_model(self, config: Config) -> Autoencoder:
        model = Autoencoder(
            get_dataset(config.dataset).shape, latent_dim=config.latent_dim, kind=config.kind
        )
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
            loss=LOSSES[config.loss],
        )
        # Optimizer state exists before the first step, so a checkpoint can be restored into it.
        model.optimizer.build(model.trainable_variables)
        return model

    @staticmethod
    def noisy_test(config: Config, x_test: np.ndarray) -> np.ndarray:
        """The test inputs as the model sees them (fixed noise, seed 0)."""
        return add_noise(x_test, config.noise, config.noise_amount, np.random.default_rng(0))

    def fit_data(self, config, model, data):
        val = (self.noisy_test(config, data.x_test), data.x_test)
        if config.noise == "none":
            return {
                "x": data.x,
                "y": data.x,
                "batch_size": config.batch_size,
                "shuffle": True,
                "validation_data": val,
            }
        seq = NoisyImages(data.x, config.batch_size, config.noise, config.noise_amount, config.seed)
        return {"x": seq, "validation_data": val}

    def epoch_callbacks(self, run, config, model, data):
        return []

    def picture_callbacks(self, run, config, model, data):
        clean = data.x_test[:10]
        noisy = None if config.noise == "none" else self.noisy_test(config, clean)
        return [ReconstructionGrid(run.path / "reconstructions", clean, noisy)]

    def final_metrics(self, run, config, model, data, echo) -> dict:
        loss = float(model.evaluate(self.noisy_test(config, data.x_test), data.x_test, verbose=0))
        echo(f"test {config.loss} ({len(data.x_test)} images): {loss:.5f}")
        return {"test_loss": loss, "loss": config.loss, "test_images": len(data.x_test)}

    def final_pictures(self, run, config, model, data) -> dict:
        from keraslab.plots import save_latent_scatter

        out = super().final_pictures(run, config, model, data)
        if config.latent_dim == 2:
            codes = model.encode(self.noisy_test(config, data.x_test))
            out["codes"] = str(save_latent_scatter(codes, data.y_test, run.path / "codes.png"))
        return out

    def make_images(self, model, config, n, seed, label=None, latents=None, images=None):
        """Reconstructions (input | noisy | output rows) of test images or the user's
        ``--images``; decoded ``--latents`` codes."""
        if label is not None:
            raise UserError("--label needs a class-conditional run; an autoencoder run has none.")
        if latents is not None:
            return super().make_images(model, config, n, seed, None, latents, None)
        if images is not None:
            x = user_images(images, model.image_shape)[:n]
        else:
            try:
                (_, _), (x_test, _) = load(config.dataset, "float32")
            except DataSourceMissing as e:
                raise UserError(str(e)) from None
            x = x_test[np.random.default_rng(seed).permutation(len(x_test))[:n]]
        noisy = None if config.noise == "none" else self.noisy_test(config, x)
        grid = ReconstructionGrid(".", x, noisy)
        return grid.rows(model), len(x)

    def evaluate(self, run_path, extractor="classifier", n=10000, which="last", echo=print, **kw):
        """Reconstruction loss on the first ``n`` test images (noisy inputs for a denoiser)."""
        run = open_run(run_path)
        self.check_run(run)
        model, config = self.load_model(run, which)
        try:
            (_, _), (x_test, _) = load(config.dataset, "float32")
        except DataSourceMissing as e:
            raise UserError(str(e)) from None
        x = x_test[:n]
        loss = float(model.evaluate(self.noisy_test(config, x), x, verbose=0))
        result = {"test_loss": loss, "loss": config.loss, "images": len(x), "checkpoint": which}
        self.save_evaluation(run, f"reconstruction-{which}-{len(x)}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return f"test {r['loss']} {r['test_loss']:.5f} ({r['images']} images, {r['checkpoint']} checkpoint)"


RECIPE = AutoencoderRecipe()
NAME = RECIPE.name
train, resume, sample, evaluate = RECIPE.train, RECIPE.resume, RECIPE.sample, RECIPE.evaluate
build_model, load_model = RECIPE.build_model, RECIPE.load_model
format_evaluation = RECIPE.format_evaluation
