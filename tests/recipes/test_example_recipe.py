"""The "adding a recipe" example of docs/architecture.md is complete and runs: this test execs
that very code block, then trains, resumes and reloads the recipe through the shared Recipe
machinery (run once per backend)."""

import json
import re
import types
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.backend

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _example_module():
    text = DOC.read_text()
    section = text[text.index("## Adding a recipe") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("sine_example")
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    return module


def test_example_recipe_trains_resumes_and_reloads(tmp_path):
    from keraslab.runs import open_run

    ex = _example_module()
    recipe = ex.RECIPE
    config = ex.Config(epochs=6)
    summary = recipe.train(config, out=str(tmp_path), verbose=0, echo=lambda *a: None)
    (run,) = list(tmp_path.iterdir())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    # sin(x) on [-3, 3] has variance ~0.48: predicting its mean scores that; the fit is far better.
    x, y = ex.make_points(128, 0.0, 12345)
    assert summary["test_mse"] < 0.5 * float(np.var(y))
    recipe.resume(str(run), epochs=8, verbose=0, echo=lambda *a: None)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert json.loads((run / "config.json").read_text())["epochs"] == 8
    # The reloaded last checkpoint predicts what the summary's model scored.
    result = recipe.evaluate(str(run))
    reloaded, _ = recipe.load_model(open_run(run))
    assert result["test_mse"] == pytest.approx(
        float(np.mean((reloaded.predict(x, verbose=0) - y) ** 2)), rel=1e-4
    )
    assert ex.INFO.Config is ex.Config and "evaluate" in ex.INFO.commands
