"""The "adding a command" example of docs/architecture.md is complete and runs: this test execs
that very code block (which adds one entry to keraslab.cli.commands.COMMANDS) and runs the new
command through keraslab's own parser and dispatcher, in this process (it needs no Keras)."""

import re
import sys
import types
from pathlib import Path

import pytest

from helpers import assert_one_line_error

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.fixture
def count_command(monkeypatch):
    from keraslab.cli import commands

    monkeypatch.setattr(commands, "COMMANDS", dict(commands.COMMANDS))
    from keraslab.cli import dispatch

    monkeypatch.setattr(dispatch, "COMMANDS", commands.COMMANDS)
    text = DOC.read_text()
    section = text[text.index("## Adding a command") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("count_example")
    monkeypatch.setitem(sys.modules, "count_example", module)
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    return module


def _main(args, capsys):
    from keraslab.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_example_command_runs_refuses_and_helps(count_command, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("the cat saw the dog and the cat ran\n", encoding="utf-8")
    out = tmp_path / "top.txt"
    code, printed, err = _main(["count", notes, "--out", out, "--top", "2"], capsys)
    assert code == 0 and err == ""
    assert out.read_text() == "the\t3\ncat\t2\n"  # counted by hand
    assert printed.strip() == f"9 words, 6 different; the top 2 in {out}"
    before = out.read_text()
    for args, words in [
        (["--out", out], ["exists"]),  # output="new": an existing file is refused
        (["--out", tmp_path / "b.txt", "--top", "0"], ["--top", "positive"]),
        (["--out", tmp_path / "b.txt", "--tops", "2"], ["--tops"]),
    ]:
        code, printed, err = _main(["count", notes, *args], capsys)
        assert code == 2, err
        assert_one_line_error(types.SimpleNamespace(returncode=code, stderr=err), *words)
    assert out.read_text() == before and not (tmp_path / "b.txt").exists()
    with pytest.raises(SystemExit):
        _main(["count", "--help"], capsys)
    assert "--top N" in capsys.readouterr().out
