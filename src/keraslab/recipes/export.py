"""``keraslab export RUN --out FILE.keras``: the run's usable model as a standard Keras file.

What is exported: a GAN's generator (latents -> images in [0, 1]; conditional: ``[latents,
labels]``), a VAE (its ``encoder`` and ``decoder`` as attributes), an autoencoder, a translator, a
GPT, a BERT pretrainer, a text classifier -- whatever the recipe's ``export_model`` returns
(default: the trained model itself). ``keras.saving.load_model(FILE)`` reads it on any backend
after ``import keraslab``. Tokenizers stay in the run folder (``tokenizer*.json``).
"""

from __future__ import annotations

from pathlib import Path

import keras

from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.runs import check_model_out, open_run


def export_run(recipe, run_path: str, out: str, which: str = "last", force: bool = False) -> Path:
    """Write ``recipe``'s model of the run at ``run_path`` to ``out`` (atomically)."""
    path = check_model_out(out, force)
    run = open_run(run_path)
    recipe = getattr(recipe, "RECIPE", recipe)  # a recipe module or its Recipe object
    loader = getattr(recipe, "load_model", None)
    if loader is None:
        raise UserError(f"export is not available for {run.recipe!r} runs.")
    run.checkpoint(which)  # one-line error when the run has none yet
    loaded = loader(run, which)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    export = getattr(recipe, "export_model", None)
    model = export(model) if export else model
    with atomic_path(path, suffix=".keras") as tmp:
        keras.saving.save_model(model, tmp)
    return path
