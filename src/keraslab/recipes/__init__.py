"""Recipes: runnable jobs (data + model + training + metrics), registered by name.

The registry holds names and descriptions only, so listing and validating recipes never imports
Keras; :func:`load_recipe` imports the module (after the CLI has chosen the backend).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from keraslab.errors import UserError


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    module: str
    description: str
    datasets: tuple[str, ...]
    default_dataset: str
    default_backend: str | None = None  # fastest measured for this job (None: the CLI's default)


RECIPES: dict[str, RecipeInfo] = {
    "dcgan": RecipeInfo(
        "dcgan",
        "keraslab.recipes.dcgan",
        "DCGAN (--arch dcgan: BatchNorm, default; lecture: the course's v2) on 28x28 images; "
        "FID/KID and recognisability scores",
        ("mnist", "fashion_mnist", "digits"),
        "mnist",
        "tensorflow",  # with XLA: 1.3x the torch backend's updates/s (BENCHMARKS.md)
    ),
    "wgan-gp": RecipeInfo(
        "wgan-gp",
        "keraslab.recipes.wgan_gp",
        "WGAN-GP (gradient penalty, n critic steps; --conditional for sample --label)",
        ("fashion_mnist", "mnist", "digits"),
        "fashion_mnist",
    ),
    "vae": RecipeInfo(
        "vae",
        "keraslab.recipes.vae",
        "convolutional (beta-)VAE; test ELBO and importance-sampled NLL in nats, FID",
        ("mnist", "fashion_mnist", "digits"),
        "mnist",
    ),
    "autoencoder": RecipeInfo(
        "autoencoder",
        "keraslab.recipes.autoencoder",
        "dense or conv autoencoder, optionally denoising; 2-D code scatter plot",
        ("mnist", "fashion_mnist", "digits"),
        "mnist",
    ),
    "translator": RecipeInfo(
        "translator",
        "keraslab.recipes.translator",
        "English->Spanish Transformer (BPE, greedy/beam search); BLEU and chrF on held-out books",
        ("bible",),
        "bible",
    ),
    "gpt": RecipeInfo(
        "gpt",
        "keraslab.recipes.gpt",
        "mini GPT (char or subword) on Jane Austen or --text FILE; perplexity, sampled text",
        ("austen",),
        "austen",
    ),
    "bert-mlm": RecipeInfo(
        "bert-mlm",
        "keraslab.recipes.bert_mlm",
        "BERT-style encoder, masked-LM pretraining (optional next-sentence task)",
        ("tweets", "austen"),
        "tweets",
    ),
    "text-classifier": RecipeInfo(
        "text-classifier",
        "keraslab.recipes.text_classifier",
        "Transformer sentiment classifier (class weights, focal loss, --init a bert-mlm run)",
        ("tweets",),
        "tweets",
    ),
    "asset-pricing": RecipeInfo(
        "asset-pricing",
        "keraslab.recipes.asset_pricing",
        "conditional autoencoders CA0-CA3 (Gu, Kelly & Xiu) vs IPCA/PCA/FF; R2 table for K=1..6",
        ("sim", "sim_linear", "french"),
        "sim",
        "jax",  # 13x the torch backend's epochs/s for this small model (BENCHMARKS.md)
    ),
    "finetune-text": RecipeInfo(
        "finetune-text",
        "keraslab.recipes.finetune_text",
        "pretrained all-MiniLM-L6-v2 + new head: --method frozen, full, adapters or lora",
        ("tweets",),
        "tweets",
    ),
    "finetune-image": RecipeInfo(
        "finetune-image",
        "keraslab.recipes.finetune_image",
        "pretrained EfficientNet-Lite0 + new head, then the top blocks at a low rate (--images DIR)",
        ("fashion_mnist", "mnist", "digits"),
        "fashion_mnist",
    ),
}


def recipe_info(name: str) -> RecipeInfo:
    key = name.replace("_", "-").lower()
    if key not in RECIPES:
        raise UserError(
            f"unknown recipe {name!r}: choose one of {', '.join(RECIPES)} (see `keraslab list`)."
        )
    return RECIPES[key]


def load_recipe(name: str):
    return importlib.import_module(recipe_info(name).module)
