"""Recipe ``autoencoder``: dense or convolutional autoencoder, optionally denoising (Gaussian or
masking noise added to every batch in the data pipeline, clean targets).

Outputs: ``reconstructions/epoch_NNN.png`` (rows: input | noisy input | output), the test loss per
epoch (``val_loss``) and its curve, and for a 2-D code ``codes.png``, a scatter plot of the test
codes coloured by class.
"""

from __future__ import annotations

import keras
import numpy as np

from keraslab.data import get_dataset, load
from keraslab.data.batches import ArrayBatches
from keraslab.data.noise import NoisyImages, add_noise
from keraslab.errors import UserError
from keraslab.models import Autoencoder
from keraslab.recipes.images import ImageRecipe, user_images
from keraslab.recipes.specs.autoencoder import LOSSES, Config
from keraslab.runs.callbacks import ReconstructionGrid


class AutoencoderRecipe(ImageRecipe):
    name = "autoencoder"
    Config = Config
    monitor = "val_loss"

    def build_model(self, config: Config, assets=None, data=None) -> Autoencoder:
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

    def fit_inputs(self, job):
        config, data = job.config, job.data
        val = (self.noisy_test(config, data.x_test), data.x_test)
        if config.noise == "none":
            batches = ArrayBatches(data.x, data.x, config.batch_size, config.seed)
        else:
            batches = NoisyImages(
                data.x, config.batch_size, config.noise, config.noise_amount, config.seed
            )
        return {"x": batches.start_at(job.initial_epoch), "validation_data": val}

    def epoch_callbacks(self, job):
        return []

    def picture_callbacks(self, job):
        clean = job.data.x_test[:10]
        noisy = None if job.config.noise == "none" else self.noisy_test(job.config, clean)
        return [ReconstructionGrid(job.run.path / "reconstructions", clean, noisy)]

    def final_metrics(self, job) -> dict:
        config, x_test = job.config, job.data.x_test
        loss = float(job.model.evaluate(self.noisy_test(config, x_test), x_test, verbose=0))
        job.echo(f"test {config.loss} ({len(x_test)} images): {loss:.5f}")
        return {"test_loss": loss, "loss": config.loss, "test_images": len(x_test)}

    def final_pictures(self, job) -> dict:
        from keraslab.runs.charts import save_latent_scatter

        out = super().final_pictures(job)
        if job.config.latent_dim == 2:
            codes = job.model.encode(self.noisy_test(job.config, job.data.x_test))
            path = job.run.path / "codes.png"
            out["codes"] = str(save_latent_scatter(codes, job.data.y_test, path))
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
            (_, _), (x_test, _) = load(config.dataset, "float32")
            x = x_test[np.random.default_rng(seed).permutation(len(x_test))[:n]]
        noisy = None if config.noise == "none" else self.noisy_test(config, x)
        grid = ReconstructionGrid(".", x, noisy)
        return grid.rows(model), len(x)

    def evaluate(self, run_path, n=10000, which="last", echo=print):
        """Reconstruction loss on the first ``n`` test images (noisy inputs for a denoiser)."""
        run = self.open(run_path)
        model, config = self.load_model(run, which)
        (_, _), (x_test, _) = load(config.dataset, "float32")
        x = x_test[:n]
        loss = float(model.evaluate(self.noisy_test(config, x), x, verbose=0))
        result = {"test_loss": loss, "loss": config.loss, "images": len(x), "checkpoint": which}
        self.save_evaluation(run, f"reconstruction-{which}-{len(x)}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return f"test {r['loss']} {r['test_loss']:.5f} ({r['images']} images, {r['checkpoint']} checkpoint)"


RECIPE = AutoencoderRecipe()
