"""Bad values for every declared option of every recipe and every command, generated from the
declarations (keraslab.options), not from a hand list: the wrong type, out of its range, not
finite, empty, not one of its choices. Each must exit 2 with exactly one stderr line, no
traceback, and write nothing. Runs keraslab.cli.main in-process: every one of these is refused
before Keras is imported."""

import json

import pytest

from keraslab.cli import main
from keraslab.cli.commands import tools
from keraslab.options import SEED_MAX
from keraslab.recipes import RECIPES


def bad_values(opt) -> list[str]:
    """Values ``opt`` must refuse, derived from its declaration."""
    info, values = opt.info, []
    if opt.type == "bool":
        return []
    if info.choices is not None:
        values.append("no-such-choice")
    if opt.type == "int":
        values.append("2.5x")
        if info.positive:
            values += ["0", "-3"]
    if opt.type == "float":
        values += ["abc", "nan", "inf", "-inf"]
    if opt.type in ("int", "float"):
        if info.min is not None:
            values.append(str(info.min - 1))
        if info.above is not None:
            values.append(str(info.above))
        if info.below is not None:
            values.append(str(info.below))
        if info.max is not None:
            values.append(str(int(info.max) + 1 if opt.type == "int" else info.max * 2 + 1))
    if opt.type == "str":
        values.append("")
    if opt.name in ("seed", "sim_seed"):
        assert info.min == 0 and info.max == SEED_MAX, opt.name
    return list(dict.fromkeys(values))


def _train_cases():
    for info in RECIPES.values():
        for opt in info.Config.options():
            for value in bad_values(opt):
                yield pytest.param(info.name, opt.flag, value, id=f"{info.name}{opt.flag}={value}")


def _command_cases():
    for info in RECIPES.values():
        for command, options in info.commands.items():
            for opt in options.options():
                for value in bad_values(opt):
                    yield pytest.param(
                        info.name,
                        command,
                        opt.flag,
                        value,
                        id=f"{info.name}-{command}{opt.flag}={value}",
                    )


def _assert_refused(code, capsys):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("keraslab: error: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("recipe, flag, value", list(_train_cases()))
def test_train_refuses_every_bad_value(recipe, flag, value, tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["train", recipe, flag, value, "--out", str(out)])
    _assert_refused(code, capsys)
    assert not out.exists()


REQUIRED = {"export": ["--out", "x.keras"], "generate": ["--prompt", "It is"]}


@pytest.mark.parametrize("recipe, command, flag, value", list(_command_cases()))
def test_commands_refuse_every_bad_value(recipe, command, flag, value, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"recipe": recipe, "backend": "torch"}))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = [command, str(run), *REQUIRED.get(command, []), flag, value]
    if command in ("translate", "classify"):
        args.insert(2, "some text")
    _assert_refused(main(args), capsys)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def _tool_cases():
    for command, kind, tool in tools():
        for opt in tool.options.options():
            for value in bad_values(opt):
                name = f"{command}-{kind}" if kind else command
                yield pytest.param(
                    command, kind, len(tool.inputs), opt.flag, value, id=f"{name}{opt.flag}={value}"
                )


# What each tool needs besides the bad value (the inputs are made in tmp_path)
TOOL_REQUIRED = {
    ("augment", "table"): ["--target", "label"],
    ("visualize", "filters"): ["--layer", "conv"],
    ("visualize", "class"): ["--class", "1"],
    ("visualize", "saliency"): ["--image", "skimage:coffee"],
}
TOOL_INPUTS = {"images": "images", "text": "input.text", "table": "input.table"}


@pytest.mark.parametrize("command, kind, n_inputs, flag, value", list(_tool_cases()))
def test_tools_refuse_every_bad_value(command, kind, n_inputs, flag, value, tmp_path, capsys):
    inputs = []
    for i in range(n_inputs):
        source = tmp_path / (TOOL_INPUTS.get(kind) or f"input{i}.png")
        if kind == "images":
            source.mkdir()
        else:
            source.write_text("label,x\na,1\nb,2\n" if kind == "table" else "a sentence\n")
        inputs.append(str(source))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = str(tmp_path / ("out" if command == "augment" else "out.png"))
    args = [command, *([kind] if kind else []), *inputs, "--out", out,
            *TOOL_REQUIRED.get((command, kind), []), flag, value]  # fmt: skip
    _assert_refused(main(args), capsys)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_the_table_covers_every_option():
    """Every option with a value has at least one generated bad value."""
    augment = [tool.options for _, _, tool in tools()]
    for info in RECIPES.values():
        for cls in (info.Config, *info.commands.values(), *augment):
            for opt in cls.options():
                assert opt.type == "bool" or bad_values(opt), (info.name, opt.name)
