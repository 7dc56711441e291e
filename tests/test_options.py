"""Settings declared once (keraslab.options) and the CLI generated from them: each recipe's
flags are exactly its Config's declared fields, ranges are checked before Keras loads, and an
option of another recipe or command is a one-line error that names where it belongs."""

import subprocess
import sys
from dataclasses import dataclass, fields

import pytest

from helpers import assert_one_line_error, run_cli
from keraslab.cli import build_parser
from keraslab.errors import UserError
from keraslab.options import Settings, option
from keraslab.recipes import RECIPES


@dataclass
class Example(Settings):
    epochs: int = option(5, "passes", positive=True)
    rate: float = option(0.1, "a rate", min=0, below=1)
    lr: float = option(1e-3, "learning rate", above=0)
    n: int = option(10, "items", positive=True, max=100)
    norm: str = option("pre", "norm", choices=("pre", "post"))
    hidden: int = 7  # a setting, not a flag


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"epochs": 0}, "--epochs must be a positive integer, got 0"),
        ({"rate": 1.0}, "--rate must be in [0, 1), got 1.0"),
        ({"rate": -0.5}, "--rate must be in [0, 1), got -0.5"),
        ({"lr": 0.0}, "--lr must be > 0, got 0.0"),
        ({"lr": float("nan")}, "--lr must be a finite number"),
        ({"n": 101}, "--n must be at most 100, got 101"),
        ({"norm": "mid"}, "--norm must be one of pre, post, got 'mid'"),
    ],
)
def test_declared_ranges_are_checked_with_one_line_messages(changes, fragment):
    with pytest.raises(UserError) as err:
        Example(**changes).validate()
    assert fragment in str(err.value)


def test_in_range_values_pass_and_undeclared_fields_are_not_options():
    Example(epochs=1, rate=0.0, lr=1e-9, n=100, norm="post").validate()
    assert [o.name for o in Example.options()] == ["epochs", "rate", "lr", "n", "norm"]


def _train_flags(name):
    parser, target = build_parser(["train", name])
    train = parser._subparsers._group_actions[0].choices["train"]
    # The recipe's own group; run options and the devices group are shared by every recipe.
    (group,) = [g for g in train._action_groups if g.title.startswith(f"{name} options")]
    return {s for a in group._group_actions for s in a.option_strings}


@pytest.mark.parametrize("name", list(RECIPES))
def test_each_recipe_parser_has_exactly_its_config_options(name):
    info = RECIPES[name]
    expected = set()
    for opt in info.Config.options():
        expected.update(opt.flags)
        if opt.info.none_flag:
            expected.add(opt.info.none_flag[0])
    assert _train_flags(name) == expected
    # Every declared field is a real setting of the Config, with a help text.
    names = {f.name for f in fields(info.Config)}
    assert all(o.name in names and o.info.help for o in info.Config.options())


def test_recipe_commands_match_the_recipe_methods():
    """Every declared command option is a keyword of the recipe's method of that name."""
    import inspect

    from keraslab.recipes import load_recipe

    for info in RECIPES.values():
        recipe = load_recipe(info.name)
        for command, options in info.commands.items():
            params = inspect.signature(getattr(recipe, command)).parameters
            missing = [o.name for o in options.options() if o.name not in params]
            assert not missing, (info.name, command, missing)


def test_settings_are_checked_without_importing_keras():
    code = (
        "import sys\n"
        "from keraslab.recipes import RECIPES\n"
        "for info in RECIPES.values():\n"
        "    info.Config().validate()\n"
        "    for options in info.commands.values():\n"
        "        options().validate()\n"
        "assert 'keras' not in sys.modules, 'validating settings imported keras'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_help_shows_only_that_recipes_options():
    proc = run_cli("train", "gpt", "--help", check=True)
    assert "--no-tie-weights" in proc.stdout and "--val-tokens" in proc.stdout
    assert "--n-critic" not in proc.stdout and "--pairs" not in proc.stdout
    proc = run_cli("train", "--help", check=True)
    assert "keraslab train RECIPE --help" in proc.stdout and "--n-critic" not in proc.stdout


def test_options_of_other_recipes_and_resume_changes_are_one_line_errors(tmp_path):
    out = tmp_path / "runs"
    assert_one_line_error(run_cli("train", "dcgan", "--n-critic", "3", "--out", out), "--n-critic applies to wgan-gp only")  # fmt: skip
    assert_one_line_error(run_cli("train", "gpt", "--layers", "0", "--out", out), "--layers", "positive integer")  # fmt: skip
    assert_one_line_error(run_cli("train", "dcgan", "--beta-1", "1.5", "--out", out), "--beta-1", "[0, 1)")  # fmt: skip
    assert_one_line_error(run_cli("train", "gpt", "--dropout", "nan", "--out", out), "--dropout")  # fmt: skip
    assert not out.exists()
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.json").write_text('{"recipe": "gpt", "backend": "torch", "epochs": 1}')
    proc = run_cli("train", "--resume", run, "--learning-rate", "0.5", "--seed", "7")
    assert_one_line_error(proc, "--learning-rate, --seed", "only --epochs may change")
    proc = run_cli("generate", run, "--prompt", "It", "--temperature", "nan")
    assert_one_line_error(proc, "--temperature must be a finite number")
    assert_one_line_error(run_cli("generate", run, "--prompt", "It", "--n", "10000000"), "--n", "at most")  # fmt: skip
    assert_one_line_error(run_cli("sample", run), "a gpt run has no `sample` command", "keraslab generate")  # fmt: skip
    assert_one_line_error(run_cli("evaluate", run, "--beam-width", "2"), "--beam-width: not an option of gpt runs")  # fmt: skip
