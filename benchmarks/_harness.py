"""What the per-backend benchmark scripts share: the Keras backend is fixed per process, so each
backend is measured in a child process of the same script that prints one JSON line last."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys


def versions() -> dict:
    return {m: importlib.metadata.version(m) for m in ("keras", "jax", "tensorflow-cpu", "torch")}


def run_child(script: str, backend: str, args: list[str]) -> tuple[dict | None, str]:
    """Run ``python script *args`` with ``KERAS_BACKEND=backend``; ``(result, "")`` from its last
    stdout line, or ``(None, last line of stderr)`` if it failed."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, script, *map(str, args)], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        return None, lines[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def train_runs(recipe_name: str, configs) -> list[tuple[dict, float]]:
    """``(summary, seconds)`` of a quiet ``train`` of recipe ``recipe_name`` for each config,
    each in a temporary folder (the runs are not kept)."""
    import tempfile
    import time

    from keraslab.recipes import load_recipe

    recipe, out = load_recipe(recipe_name), []
    for config in configs:
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.time()
            summary = recipe.train(config, out=folder, verbose=0, echo=lambda *a: None)
            out.append((summary, time.time() - t0))
    return out


def recipe_feed(x, batch_size: int, steps: int) -> dict:
    """``model.fit`` arguments that feed images ``x`` as the image recipes do: shuffled
    :class:`~keraslab.data.batches.ArrayBatches`, gathered by TensorFlow's own pipeline on that
    backend (:func:`keraslab.engine.feed.gathered_batches`), else read as a PyDataset; ``steps``
    batches (``x`` holds at least ``steps * batch_size`` rows)."""
    from keraslab.data.batches import ArrayBatches
    from keraslab.engine.feed import gathered_batches

    batches = ArrayBatches(x[: steps * batch_size], None, batch_size, seed=0).start_at(0)
    fed = gathered_batches(batches, 1) or {"x": batches, "shuffle": False}
    return {**fed, "steps_per_epoch": steps}
