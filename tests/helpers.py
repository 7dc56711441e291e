"""Shared test helpers."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, env=None, timeout=600, check=False):
    """Run ``python -m keraslab.cli ARGS`` in a fresh process (the backend is fixed per process)."""
    full_env = cli_env(env)
    proc = subprocess.run(
        [sys.executable, "-m", "keraslab.cli", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"keraslab {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return proc


def cli_env(extra=None) -> dict:
    """The environment of a CLI subprocess: KERAS_BACKEND removed, so the CLI's default applies."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **(extra or {})}


def snapshot(folder: Path) -> dict:
    """{relative path: bytes} of every file under ``folder`` (to prove nothing changed)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("keraslab: error: "), err
    for f in fragments:
        assert f.lower() in lines[0].lower(), (f, lines[0])
