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

from dataclasses import dataclass

import keras
import numpy as np
from scipy.stats import norm

from keraslab.callbacks import ImageGrid, ReconstructionGrid
from keraslab.data import DataSourceMissing, get_dataset, load
from keraslab.errors import UserError
from keraslab.io import save_image_grid
from keraslab.models import VAE
from keraslab.recipes.base import (
    Data,
    ImageConfig,
    ImageRecipe,
    fast_extractor,
    user_images,
)
from keraslab.runs import open_run


@dataclass
class Config(ImageConfig):
    """Settings of a VAE run (all saved in config.json)."""

    epochs: int = 10
    batch_size: int = 128
    latent_dim: int = 32
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    likelihood: str = "bernoulli"  # or "gaussian" (squared error, fixed sigma)
    sigma: float = 0.1  # standard deviation of the Gaussian likelihood
    binarize: str = "dynamic"  # "dynamic", "static" or "none" (Bernoulli only)
    beta: float = 1.0  # weight of the KL term
    kl_warmup: float = 0.0  # epochs of linear KL warm-up (0: none)
    eval_images: int = 1000  # test images for the per-epoch test ELBO
    ll_samples: int = 200  # importance samples k per image for the final NLL
    ll_images: int = 1000  # test images for the final NLL (0: skip)

    _positive = (*ImageConfig._positive, "eval_images", "ll_samples")

    def validate(self) -> None:
        super().validate()
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise UserError(
                f"--likelihood must be 'bernoulli' or 'gaussian', got {self.likelihood!r}."
            )
        if self.binarize not in ("dynamic", "static", "none"):
            raise UserError(
                f"--binarize must be 'dynamic', 'static' or 'none', got {self.binarize!r}."
            )
        if self.likelihood == "gaussian" and self.binarize != "none":
            raise UserError("--likelihood gaussian models grey levels: use --binarize none.")
        if self.beta < 0 or self.kl_warmup < 0 or self.sigma <= 0 or self.ll_images < 0:
            raise UserError("--beta, --kl-warmup and --ll-images must be >= 0 and --sigma > 0.")

    @property
    def binarized(self) -> bool:
        return self.likelihood == "bernoulli" and self.binarize != "none"


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

    def build_model(self, config: Config) -> VAE:
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

    def fit_data(self, config, model, data):
        return {"x": data.x, "batch_size": config.batch_size, "shuffle": True}

    def epoch_callbacks(self, run, config, model, data):
        test = self.test_images(config, data.x_test[: config.eval_images])
        return [TestELBO(test), *super().epoch_callbacks(run, config, model, data)]

    def picture_callbacks(self, run, config, model, data):
        return [
            ImageGrid(run.samples, n=config.grid, seed=config.seed),
            ReconstructionGrid(run.path / "reconstructions", data.x_test[:10]),
        ]

    def final_metrics(self, run, config, model, data, echo) -> dict:
        test = self.test_images(config, data.x_test)
        out = {"test_elbo": float(model.elbo(test).mean()), "test_images": len(test)}
        echo(f"test ELBO ({len(test)} images): {out['test_elbo']:.2f} nats")
        if config.ll_images:
            out.update(self.nll(model, config, test[: config.ll_images], echo))
        out.update(super().final_metrics(run, config, model, data, echo))
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

    def final_pictures(self, run, config, model, data) -> dict:
        out = super().final_pictures(run, config, model, data)
        images, ncols = traversal(model)
        out["traversal"] = str(save_image_grid(images, run.path / "traversal.png", ncols, scale=2))
        return out

    def make_images(self, model, config, n, seed, label=None, latents=None, images=None):
        if images is not None:
            x = user_images(images, model.image_shape)[:n]
            return np.concatenate([x, model.reconstruct(x)]), len(x)
        if label is not None:
            raise UserError("--label needs a class-conditional run; a vae run is unconditional.")
        return super().make_images(model, config, n, seed, None, latents, None)

    def evaluate(self, run_path, extractor="classifier", n=10000, which="last", echo=print, **kw):
        """Test ELBO, importance-sampled NLL (``k`` samples on ``ll_images`` test images) and
        FID/KID of ``n`` samples."""
        run = open_run(run_path)
        self.check_run(run)
        model, config = self.load_model(run, which)
        try:
            (_, _), (x_test, _) = load(config.dataset, "float32")
        except DataSourceMissing as e:
            raise UserError(str(e)) from None
        test = self.test_images(config, x_test)
        result = {"test_elbo": float(model.elbo(test).mean()), "checkpoint": which}
        ll_images = kw.get("ll_images") or config.ll_images
        if ll_images:
            result.update(self.nll(model, config, test[:ll_images], echo, k=kw.get("k")))
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


class TestELBO(keras.callbacks.Callback):
    """Add ``test_elbo`` (mean nats over the given images, one posterior sample) to the logs."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["test_elbo"] = float(self.model.elbo(self.images, seed=0).mean())


RECIPE = VAERecipe()
NAME = RECIPE.name
train, resume, sample, evaluate = RECIPE.train, RECIPE.resume, RECIPE.sample, RECIPE.evaluate
build_model, load_model = RECIPE.build_model, RECIPE.load_model
format_evaluation = RECIPE.format_evaluation
