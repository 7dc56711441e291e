from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import option
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import ExportOptions, SampleOptions, VAEEvaluateOptions
from keraslab.recipes.specs.images import IMAGE_DATASETS, ImageConfig

MAX_PRIOR_COMPONENTS = 200


@dataclass
class Config(ImageConfig):
    """Settings of a VAE run (all saved in config.json)."""

    epochs: int = option(10, "passes over the training images", positive=True)
    batch_size: int = option(128, "images per update", positive=True)
    latent_dim: int = option(32, "size of the latent code", positive=True)
    learning_rate: float = option(1e-3, "Adam learning rate", above=0)
    beta_1: float = option(0.9, "Adam beta_1", min=0, below=1)
    likelihood: str = option(
        "bernoulli",
        "bernoulli, or gaussian (squared error, fixed --sigma)",
        choices=("bernoulli", "gaussian"),
    )
    sigma: float = option(0.1, "std of the Gaussian likelihood", above=0)
    binarize: str = option(
        "dynamic",
        "Bernoulli targets: redrawn every batch, drawn once, or grey levels",
        choices=("dynamic", "static", "none"),
    )
    beta: float = option(1.0, "weight of the KL term", min=0)
    kl_warmup: float = option(0.0, "epochs of linear KL warm-up", min=0)
    prior: str = option(
        "mixture",
        "sampling prior: mixture (Gaussians fitted to the training images' codes every epoch; "
        "sharper samples) or standard (N(0, I), the course's)",
        choices=("mixture", "standard"),
    )
    prior_components: int = option(
        25, "Gaussians in the mixture prior", positive=True, max=MAX_PRIOR_COMPONENTS
    )
    prior_images: int = 5000  # training images whose codes the mixture is fitted to
    eval_images: int = 1000  # test images for the per-epoch test ELBO
    ll_samples: int = option(200, "importance samples k per image for the final NLL", positive=True)
    ll_images: int = option(1000, "test images for the final NLL (0: skip)", min=0)

    _positive = (*ImageConfig._positive, "eval_images", "prior_images")

    def validate(self) -> None:
        super().validate()
        if self.likelihood == "gaussian" and self.binarize != "none":
            raise UserError("--likelihood gaussian models grey levels: use --binarize none.")
        if (
            self.prior == "mixture"
            and self.subset is not None
            and self.subset < self.prior_components
        ):
            raise UserError(
                f"--prior-components {self.prior_components} needs at least as many training "
                f"images, got --subset {self.subset}: lower --prior-components or use --prior "
                "standard."
            )

    @property
    def binarized(self) -> bool:
        return self.likelihood == "bernoulli" and self.binarize != "none"


INFO = RecipeInfo(
    "vae",
    "keraslab.recipes.vae",
    "convolutional (beta-)VAE; test ELBO and importance-sampled NLL in nats, FID",
    IMAGE_DATASETS,
    "mnist",
    Config,
    {"sample": SampleOptions, "evaluate": VAEEvaluateOptions, "export": ExportOptions},
    # fed as the recipe feeds it, 1.94x a plain PyTorch loop's steps/s (torch: 1.00x;
    # benchmarks/vae_step.py, BENCHMARKS.md)
    default_backend="tensorflow",
)
