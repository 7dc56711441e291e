"""Recipe ``vae``: a convolutional (beta-)VAE with per-epoch test ELBO, sample and
reconstruction grids, a latent traversal, and the importance-sampled negative log-likelihood
(nats) at the end.

Binarisation (Bernoulli likelihood): ``dynamic`` re-draws pixel ~ Bernoulli(intensity) every
batch (inside the train step); ``static`` draws the training set once (seeded); ``none`` trains on
grey levels. Test-set ELBO and NLL are measured on one fixed binarisation of the test split
(seed 0), the same for every run, so figures are comparable. This is *not* the Larochelle
fixed binarised MNIST file used by some papers (it is not shipped offline); see BENCHMARKS.md.
"""

from __future__ import annotations

import keras
import numpy as np
from scipy.stats import norm

from keraslab.data import get_dataset, load
from keraslab.errors import UserError
from keraslab.io import save_image_grid
from keraslab.models import VAE
from keraslab.recipes.images import Data, ImageRecipe, fast_extractor, user_images
from keraslab.recipes.specs.vae import Config
from keraslab.runs.callbacks import ImageGrid, ReconstructionGrid


def binarize_once(x: np.ndarray, seed: int) -> np.ndarray:
    """One Bernoulli draw of every pixel (static binarisation), seeded."""
    return (np.random.default_rng(seed).random(x.shape) < x).astype("float32")


def traversal(model: VAE, n: int = 15, dims: int = 8) -> tuple[np.ndarray, int]:
    """Latent traversal grid: for a 2-D latent the decoded manifold over prior quantiles
    (n x n); otherwise one row per latent dimension (the first ``dims``), that coordinate swept
    over prior quantiles with the others at 0."""
    q = norm.ppf(np.linspace(0.05, 0.95, n))
    if model.latent_dim == 2:
        z = np.array([[a, b] for b in q[::-1] for a in q], dtype="float32")
        return model.decode(z), n
    rows = min(dims, model.latent_dim)
    z = np.zeros((rows * n, model.latent_dim), "float32")
    for d in range(rows):
        z[d * n : (d + 1) * n, d] = q
    return model.decode(z), n


class VAERecipe(ImageRecipe):
    name = "vae"
    Config = Config
    monitor = "test_elbo"
    monitor_mode = "max"
    saved_defaults = {"prior": "standard"}  # runs from before the mixture prior sampled N(0, I)

    def build_model(self, config: Config, assets=None, data=None) -> VAE:
        info = get_dataset(config.dataset)
        steps = 0
        if config.kl_warmup > 0:
            n = info_train_size(config)
            steps = int(round(config.kl_warmup * -(-n // config.batch_size)))
        model = VAE(
            image_shape=info.shape,
            latent_dim=config.latent_dim,
            likelihood=config.likelihood,
            sigma=config.sigma,
            beta=config.beta,
            kl_warmup_steps=steps,
            binarize="dynamic" if config.binarize == "dynamic" and config.binarized else "none",
            seed=config.seed,
            prior_components=config.prior_components if config.prior == "mixture" else 0,
        )
        model.compile(keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1))
        return model

    def load_data(self, config: Config) -> Data:
        data = super().load_data(config)
        if config.binarized and config.binarize == "static":
            data.x = binarize_once(data.x, config.seed)
        return data

    @staticmethod
    def test_images(config: Config, x_test: np.ndarray) -> np.ndarray:
        """The test split as the likelihood sees it (fixed binarisation, seed 0)."""
        return binarize_once(x_test, 0) if config.binarized else x_test.astype("float32")

    def fit_inputs(self, job):
        from keraslab.data.batches import ArrayBatches

        batches = ArrayBatches(job.data.x, None, job.config.batch_size, job.config.seed)
        return {"x": batches.start_at(job.initial_epoch)}

    def epoch_callbacks(self, job):
        config = job.config
        test = self.test_images(config, job.data.x_test[: config.eval_images])
        fit = []
        if config.prior == "mixture":  # before the per-epoch FID and grids, which sample
            fit = [FitLatentPrior(prior_images(config, job.data.x), config.seed)]
        return [TestELBO(test), *fit, *super().epoch_callbacks(job)]

    def picture_callbacks(self, job):
        model, config = job.model, job.config
        return [
            ImageGrid(  # the same draws every epoch, from the run's sampling prior
                job.run.samples,
                n=config.grid,
                generate_fn=lambda z: model.decode(model.prior_draws(len(z), config.seed)),
            ),
            ReconstructionGrid(job.run.path / "reconstructions", job.data.x_test[:10]),
        ]

    def final_metrics(self, job) -> dict:
        model, config, echo = job.model, job.config, job.echo
        test = self.test_images(config, job.data.x_test)
        out = {"test_elbo": float(model.elbo(test).mean()), "test_images": len(test)}
        echo(f"test ELBO ({len(test)} images): {out['test_elbo']:.2f} nats")
        if config.ll_images:
            out.update(self.nll(model, config, test[: config.ll_images], echo))
        out.update(super().final_metrics(job))
        return out

    @staticmethod
    def nll(model, config, test, echo, k=None) -> dict:
        k = k or config.ll_samples
        echo(f"importance-sampled NLL: {len(test)} test images x {k} samples ...")
        ll = model.log_likelihood(test, k=k)
        nll = float(-ll.mean())
        echo(f"NLL ({'binarised' if config.binarized else 'grey'}, k={k}): {nll:.2f} nats")
        return {
            "nll": nll,
            "nll_stderr": float(ll.std(ddof=1) / np.sqrt(len(ll))) if len(ll) > 1 else None,
            "nll_k": k,
            "nll_images": len(test),
        }

    def final_pictures(self, job) -> dict:
        out = super().final_pictures(job)
        images, ncols = traversal(job.model)
        path = job.run.path / "traversal.png"
        out["traversal"] = str(save_image_grid(images, path, ncols, scale=2))
        return out

    def make_images(self, model, config, n, seed, label=None, latents=None, images=None):
        if images is not None:
            x = user_images(images, model.image_shape)[:n]
            return np.concatenate([x, model.reconstruct(x)]), len(x)
        if label is not None:
            raise UserError("--label needs a class-conditional run; a vae run is unconditional.")
        return super().make_images(model, config, n, seed, None, latents, None)

    def evaluate(
        self,
        run_path,
        extractor="classifier",
        n=10000,
        which="last",
        k=None,
        ll_images=None,
        echo=print,
    ):
        """Test ELBO, importance-sampled NLL (``k`` samples on ``ll_images`` test images) and
        FID/KID of ``n`` samples."""
        run = self.open(run_path)
        model, config = self.load_model(run, which)
        (_, _), (x_test, _) = load(config.dataset, "float32")
        test = self.test_images(config, x_test)
        result = {"test_elbo": float(model.elbo(test).mean()), "checkpoint": which}
        ll_images = ll_images or config.ll_images
        if ll_images:
            result.update(self.nll(model, config, test[:ll_images], echo, k=k))
        if extractor != "classifier" or fast_extractor(config.dataset) is not None:
            if n < 2:
                raise UserError(f"--n must be at least 2, got {n}.")
            result.update(self.fid_evaluation(run, model, config, extractor, n, which, echo))
        self.save_evaluation(run, f"likelihood-{which}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        text = f"test ELBO {r['test_elbo']:.2f} nats"
        if "nll" in r:
            text += f"  NLL {r['nll']:.2f} nats (k={r['nll_k']}, {r['nll_images']} images)"
        return text + ("  " + ImageRecipe.format_evaluation(r) if "fid" in r else "")


def info_train_size(config: Config) -> int:
    """Training images per epoch (for warm-up in steps) without loading the data."""
    sizes = {"mnist": 60000, "fashion_mnist": 60000, "digits": 1437}
    n = sizes.get(config.dataset, 60000)
    return min(n, config.subset) if config.subset else n


def prior_images(config: Config, x: np.ndarray) -> np.ndarray:
    """The training images whose codes the mixture prior is fitted to: ``config.prior_images``
    of them (a seeded choice), binarised once (seeded) as the encoder sees them."""
    n = min(len(x), config.prior_images)
    idx = np.sort(np.random.default_rng(config.seed).permutation(len(x))[:n])
    return binarize_once(x[idx], config.seed) if config.binarized else x[idx].astype("float32")


class FitLatentPrior(keras.callbacks.Callback):
    """Refit the VAE's mixture prior (:meth:`~keraslab.models.VAE.fit_prior`) to the codes of
    ``images`` at the end of every epoch, so the epoch's samples, FID and checkpoint use it."""

    def __init__(self, images, seed: int):
        super().__init__()
        self.images, self.seed = images, seed

    def on_epoch_end(self, epoch, logs=None):
        self.model.fit_prior(self.images, seed=self.seed)


class TestELBO(keras.callbacks.Callback):
    """Add ``test_elbo`` (mean nats over the given images, one posterior sample) to the logs."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["test_elbo"] = float(self.model.elbo(self.images, seed=0).mean())


RECIPE = VAERecipe()
