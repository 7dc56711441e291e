"""Recipes: runnable jobs (data + model + training + metrics), registered by name.

Each recipe declares itself in ``keraslab.recipes.specs.<name>`` (Keras-free: its settings, data
sets and commands), so listing, validating and parsing never import Keras; :func:`load_recipe`
imports the recipe's module (after the CLI has chosen the backend) and returns its ``RECIPE``.
"""

from __future__ import annotations

import importlib
import shlex

from keraslab.errors import UserError
from keraslab.recipes.specs import RecipeInfo

_SPECS = (
    "dcgan",
    "wgan_gp",
    "vae",
    "autoencoder",
    "translator",
    "gpt",
    "bert_mlm",
    "elmo",
    "text_classifier",
    "asset_pricing",
    "finetune_text",
    "finetune_image",
)


def _registry() -> dict[str, RecipeInfo]:
    infos = [importlib.import_module(f"keraslab.recipes.specs.{s}").INFO for s in _SPECS]
    return {info.name: info for info in infos}


RECIPES: dict[str, RecipeInfo] = _registry()

__all__ = ["RECIPES", "RecipeInfo", "load_recipe", "recipe_info", "train_command"]


def recipe_info(name: str) -> RecipeInfo:
    key = name.replace("_", "-").lower()
    if key not in RECIPES:
        raise UserError(
            f"unknown recipe {name!r}: choose one of {', '.join(RECIPES)} (see `keraslab list`)."
        )
    return RECIPES[key]


def load_recipe(name: str):
    """The :class:`~keraslab.recipes.base.Recipe` of ``name`` (imports Keras)."""
    return importlib.import_module(recipe_info(name).module).RECIPE


def train_command(config: dict) -> str | None:
    """The ``keraslab train`` command line that starts a run with ``config``'s settings: every
    declared option whose saved value differs from its default, and the backend. None for a
    recipe this keraslab does not know. Shown on the run's page (``keraslab report``)."""
    key = str(config.get("recipe", "")).replace("_", "-").lower()
    if key not in RECIPES:
        return None
    info = RECIPES[key]
    parts = ["keraslab", "train", info.name]
    for opt in info.Config.options():
        if opt.name not in config:
            continue
        value = config[opt.name]
        if opt.name != "dataset" and value == opt.default:
            continue
        if opt.type == "bool":
            if bool(value) != bool(opt.default):
                parts.append(opt.flag)
        elif value is None:
            if opt.info.none_flag:
                parts.append(opt.info.none_flag[0])
        else:
            parts += [opt.flag, str(value)]
    if config.get("backend"):
        parts += ["--backend", config["backend"]]
    return " ".join(shlex.quote(p) for p in parts)
