"""``keraslab report RUN`` and ``keraslab compare RUN1 RUN2 ...``: the pages of
:mod:`keraslab.runs.report`, written from the command line (Keras-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keraslab.errors import UserError
from keraslab.options import Settings, option
from keraslab.recipes import train_command
from keraslab.runs import open_run
from keraslab.runs.report import write_comparison, write_report


@dataclass
class ReportOptions(Settings):
    """``keraslab report RUN``."""

    open: bool = option(False, "open the page in the web browser afterwards")


@dataclass
class CompareOptions(Settings):
    """``keraslab compare RUN1 RUN2 ...``."""

    out: str = option("compare.html", "the page to write", metavar="FILE.html", output="new")
    open: bool = option(False, "open the page in the web browser afterwards")

    def validate(self) -> None:
        super().validate()
        if not self.out.lower().endswith((".html", ".htm")):
            raise UserError(f"--out must end in .html, got {self.out}.")


def _open(path: Path) -> None:
    import webbrowser

    if not webbrowser.open(path.resolve().as_uri()):
        import sys

        print(f"keraslab: no web browser found: open {path} yourself", file=sys.stderr)


def report_command(run_path, options: ReportOptions) -> Path:
    """``keraslab report RUN [--open]``."""
    path = write_report(run_path, train_command(open_run(run_path).config))
    if options.open:
        _open(path)
    return path


def compare_command(run_paths, options: CompareOptions) -> Path:
    """``keraslab compare RUN1 RUN2 ... [--out compare.html] [--open]``."""
    path = write_comparison(run_paths, options.out)
    if options.open:
        _open(path)
    return path
