"""A run's page (``RUN/report.html``) and a comparison of runs (``compare.html``).

Both pages are static: they open from the file system with no server and no network. Curves
are inline SVG drawn here; pictures are the run's own PNG files, linked by relative paths (a
page in the run folder) or embedded (a comparison, which may be written anywhere); the only
script is inline and only moves the epoch sliders. Everything is read tolerantly: a run still
in progress, a cut or corrupt line in ``metrics.jsonl`` or a damaged JSON file gives a page of
what could be read, with a note of what was skipped.

Keras-free: ``keraslab report`` and ``keraslab compare`` load no backend.

Example:
    >>> write_report("runs/dcgan-20261201-120000")          # -> .../report.html
    >>> write_report(run, command="keraslab train dcgan --epochs 3")  # shown as how to repeat it
    >>> write_comparison(["runs/a", "runs/b"], "compare.html")
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.runs.folder import Run, open_run

REPORT_NAME = "report.html"
# Figures every epoch's log line carries besides the model's metrics (keraslab.runs.callbacks).
RESOURCE_KEYS = ("seconds", "samples_per_second", "peak_rss_mb")
RESOURCE_LABELS = {
    "seconds": "seconds per epoch",
    "samples_per_second": "training samples per second",
    "peak_rss_mb": "peak memory (RSS, MB)",
}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
MAX_TEXT = 20_000  # characters of one text sample kept in the page


# ---- reading a run -----------------------------------------------------------------------------
@dataclass
class RunContents:
    """What could be read of a run folder, and notes of what could not."""

    run: Run
    rows: list[dict]
    summary: dict
    evaluation: dict
    skipped: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run.path.name

    @property
    def complete(self) -> bool:
        """Whether the run has ended (``summary.json`` is written last)."""
        return bool(self.summary)

    @property
    def metric_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for row in self.rows:
            for k, v in row.items():
                if k != "epoch" and k not in RESOURCE_KEYS and isinstance(v, (int, float)):
                    keys[k] = None
        return list(keys)


def read_run(path) -> RunContents:
    """The run at ``path`` (UserError if it is not one) with its metrics, summary and evaluation."""
    run = open_run(path)
    rows, bad = run.read_metrics()
    skipped = []
    if bad:
        lines = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
        skipped.append(
            f"metrics.jsonl: {len(bad)} line(s) not readable as JSON (line {lines}); skipped."
        )
    summary = _read_json(run.summary_path, skipped)
    evaluation = _read_json(run.path / "evaluation.json", skipped)
    return RunContents(run, rows, summary, evaluation, skipped)


def _read_json(path: Path, skipped: list[str]) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        skipped.append(f"{path.name}: damaged (not JSON); skipped.")
        return {}
    if not isinstance(data, dict):
        skipped.append(f"{path.name}: not a JSON object; skipped.")
        return {}
    return data


def _epoch_files(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.glob(f"epoch_*{suffix}")) if folder.is_dir() else []


def _epoch_of(path: Path) -> str:
    m = re.search(r"epoch_0*(\d+)", path.name)
    return m.group(1) if m else path.stem


# ---- small HTML parts ----------------------------------------------------------------------
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, (list, tuple)):
        if len(value) > 12 or any(isinstance(v, (list, dict)) for v in value):
            return f"({len(value)} values)"
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _table(rows: list[tuple], header: tuple | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def svg_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str = "epoch",
              width: int = 420, height: int = 260) -> str:  # fmt: skip
    """An inline SVG line chart: one polyline (and points) per named series of ``(x, y)``."""
    pts = [(x, y) for s in series.values() for x, y in s if y is not None and math.isfinite(y)]
    if not pts:
        return ""
    left, right, top, bottom = 58, 12, 26, 38
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    else:
        pad = (y1 - y0) * 0.05
        y0, y1 = y0 - pad, y1 + pad
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" class="title">{_e(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>',
    ]
    for t in _nice_ticks(y0, y1):
        y = sy(t)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{t:.4g}</text>')
    for t in _nice_ticks(x0, x1, 6):
        if xlabel == "epoch" and t != int(t):
            continue
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{t:.4g}</text>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">{_e(xlabel)}</text>'
    )
    for i, (label, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        good = [(x, y) for x, y in s if y is not None and math.isfinite(y)]
        if not good:
            continue
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(good) <= 60:
            parts += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"/>'
                for x, y in good
            ]
        ly = top + 14 + 14 * i
        parts.append(
            f'<rect x="{left + 8}" y="{ly - 8}" width="10" height="3" fill="{colour}"/>'
            f'<text x="{left + 22}" y="{ly - 3}" class="legend">{_e(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _points(rows: list[dict], key: str) -> list[tuple[float, float]]:
    out = []
    for i, r in enumerate(rows):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append((r.get("epoch", i + 1), float(v)))
    return out


def _curve_groups(keys: list[str]) -> list[tuple[str, list[str]]]:
    """``(title, keys)`` per chart: a metric with its ``val_`` twin on one chart."""
    groups, done = [], set()
    for k in keys:
        if k in done:
            continue
        base = k[4:] if k.startswith("val_") else k
        members = [m for m in (base, "val_" + base) if m in keys]
        done.update(members)
        groups.append((base, members))
    return groups


def _slider(frames: list[str], labels: list[str], kind: str, caption: str) -> str:
    """An epoch slider over image sources (``kind="img"``) or texts (``kind="text"``); the last
    frame is shown without the script."""
    data = _e(json.dumps({"frames": frames, "labels": labels}))
    last = len(frames) - 1
    if kind == "img":
        shown = f'<img src="{_e(frames[last])}" alt="{_e(caption)}, epoch {_e(labels[last])}">'
    else:
        shown = f"<pre>{_e(frames[last])}</pre>"
    control = ""
    if len(frames) > 1:
        control = (
            f'<input type="range" min="0" max="{last}" value="{last}" '
            f'aria-label="epoch of {_e(caption)}">'
        )
    return (
        f'<figure class="slider" data-kind="{kind}" data-frames="{data}">{shown}'
        f'<figcaption>{_e(caption)}: {control} <span class="frame-label">epoch '
        f"{_e(labels[last])}</span> of {len(frames)}</figcaption></figure>"
    )


_SCRIPT = """
for (const fig of document.querySelectorAll('figure.slider')) {
  const data = JSON.parse(fig.dataset.frames), input = fig.querySelector('input');
  if (!input) continue;
  const shown = fig.querySelector(fig.dataset.kind === 'img' ? 'img' : 'pre');
  const label = fig.querySelector('.frame-label');
  input.addEventListener('input', () => {
    const i = Number(input.value);
    if (fig.dataset.kind === 'img') shown.src = data.frames[i]; else shown.textContent = data.frames[i];
    label.textContent = 'epoch ' + data.labels[i];
  });
}
"""

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1100px;
padding:1em 1.5em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.6em}
.status{color:#555}.notes{background:#fff6e0;border:1px solid #f0d9a0;padding:.5em 1em}
table{border-collapse:collapse;margin:.4em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.charts{display:flex;flex-wrap:wrap;gap:.6em}
svg.chart{background:#fff;font-size:11px;font-family:inherit}svg .frame{fill:none;stroke:#999}
svg .grid{stroke:#eee}svg .title{font-size:12px;font-weight:600}
figure{margin:.5em 0;display:inline-block;vertical-align:top}
figure img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}
figure.slider img{min-width:320px}
figure.picture img{max-height:360px}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;white-space:pre-wrap;max-height:420px}
code{background:#f4f4f4;padding:.15em .35em}
"""


def _page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(body)
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _section(key: str, title: str, content: str) -> str:
    return f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>'


def _image_src(path: Path, base: Path | None) -> str:
    """A relative URL of ``path`` from ``base`` (a page in the run folder), else a data URL."""
    if base is not None:
        return quote(path.relative_to(base).as_posix())
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# ---- the run page ------------------------------------------------------------------------------
def run_page(c: RunContents, command: str | None = None) -> str:
    """The HTML of ``c``'s report (see :func:`write_report`)."""
    run, config = c.run, c.run.config
    epochs = config.get("epochs")
    done = max((r.get("epoch", 0) for r in c.rows), default=0)
    if c.complete:
        status = f"complete: {done} epoch(s) logged" if c.rows else "complete"
    else:
        total = f" of {epochs}" if epochs else ""
        status = f"not finished (in progress, or stopped): {done}{total} epoch(s) logged"
    body = [
        f"<h1>{_e(run.recipe)} run <code>{_e(run.path.name)}</code></h1>",
        f'<p class="status">{_e(status)}; backend {_e(config.get("backend", "?"))}; '
        f"created {_e(config.get('created', '?'))}; page written by <code>keraslab report</code>"
        "</p>",
    ]
    if c.skipped:
        items = "".join(f"<li>{_e(s)}</li>" for s in c.skipped)
        body.append(f'<div class="notes" id="skipped"><b>Skipped</b><ul>{items}</ul></div>')
    charts = [
        svg_chart({k: _points(c.rows, k) for k in keys}, title)
        for title, keys in _curve_groups(c.metric_keys)
    ]
    curves = "".join(charts) if charts else "<p>No epoch has been logged yet.</p>"
    body.append(_section("metrics", "Final metrics", _summary_table(c)))
    body.append(_section("evaluation", "Evaluation", _evaluation(c.evaluation)))
    body.append(_section("curves", "Curves", f'<div class="charts">{curves}</div>'))
    body.append(_section("samples", "Samples over epochs", _samples(run)))
    body.append(_section("pictures", "Pictures", _pictures(run)))
    body.append(_section("resources", "Resources", _resources(c.rows)))
    body.append(_section("command", "Command", _command(c, command)))
    settings = {k: v for k, v in config.items() if k not in ("system", "created")}
    body.append(
        _section("config", "Settings", _table(sorted(settings.items()), ("setting", "value")))
    )
    versions = dict(config.get("system") or {})
    body.append(_section("versions", "Versions", _table(sorted(versions.items()), ("", "version"))))
    return _page(f"{run.recipe} {run.path.name}", body)


def _command(c: RunContents, command: str | None) -> str:
    more = f"--resume {shlex.quote(str(c.run.path))} --epochs N"
    if not c.complete:
        more = "--resume " + shlex.quote(str(c.run.path))
    again = "<p>Made by a recipe this keraslab does not know.</p>"
    if command:
        again = f"<p>Starts a run with the same settings:</p><pre>{_e(command)}</pre>"
    return again + f"<p>Continue this one: <code>keraslab train {_e(more)}</code></p>"


def _sequences(run: Run) -> list[tuple[str, str, list[Path]]]:
    """``(folder name, "img" or "text", files)`` of every run subfolder holding one file per
    epoch (``samples/epoch_NNN.png`` or ``.txt``, ``reconstructions/epoch_NNN.png``)."""
    out = []
    for folder in sorted(p for p in run.path.iterdir() if p.is_dir()):
        for kind, suffix in (("img", ".png"), ("text", ".txt")):
            files = _epoch_files(folder, suffix)
            if files:
                out.append((folder.name, kind, files))
    return out


def _read_text(path: Path) -> str:
    return path.read_text(errors="replace")[:MAX_TEXT]


def _samples(run: Run) -> str:
    parts = []
    for name, kind, files in _sequences(run):
        read = (lambda p: _image_src(p, run.path)) if kind == "img" else _read_text
        parts.append(_slider([read(p) for p in files], [_epoch_of(p) for p in files], kind, name))
    return "".join(parts) or "<p>This recipe saves no samples per epoch.</p>"


def _summary_table(c: RunContents) -> str:
    if not c.summary:
        return "<p>None yet: summary.json is written when the run ends.</p>"
    rows = [
        (k, v)
        for k, v in _flatten(c.summary).items()
        if k != "complete" and not (isinstance(v, str) and v.endswith((".png", ".csv", ".md")))
    ]
    return _table(rows, ("metric", "value"))


def _evaluation(evaluation: dict) -> str:
    if not evaluation:
        return "<p>None yet: <code>keraslab evaluate RUN</code> adds results here.</p>"
    parts = []
    for key, result in evaluation.items():
        flat = _flatten(result) if isinstance(result, dict) else {"value": result}
        parts.append(f"<h3>{_e(key)}</h3>" + _table(list(flat.items()), ("metric", "value")))
    return "".join(parts)


def _pictures(run: Run) -> str:
    figures = [
        f'<figure class="picture"><img src="{_e(_image_src(p, run.path))}" alt="{_e(p.name)}">'
        f"<figcaption>{_e(p.name)}</figcaption></figure>"
        for p in sorted(run.path.glob("*.png"))
        if not p.name.startswith(".tmp-")
    ]
    tables = [
        f"<h3>{_e(p.name)}</h3><pre>{_e(_read_text(p))}</pre>"
        for p in sorted(run.path.glob("*.md"))
    ]
    return "".join(figures + tables) or "<p>No pictures in the run folder yet.</p>"


def _resources(rows: list[dict]) -> str:
    charts, table = [], []
    for key in RESOURCE_KEYS:
        pts = _points(rows, key)
        if not pts:
            continue
        charts.append(svg_chart({key: pts}, RESOURCE_LABELS[key]))
        values = [v for _, v in pts]
        summary = max(values) if key == "peak_rss_mb" else sum(values) / len(values)
        table.append((RESOURCE_LABELS[key], "maximum" if key == "peak_rss_mb" else "mean", summary))
    if not table:
        return "<p>No resource figures logged (a run made by an older keraslab).</p>"
    return _table(table, ("figure", "over epochs", "value")) + (
        f'<div class="charts">{"".join(charts)}</div>'
    )


def write_report(run_path, command: str | None = None) -> Path:
    """Write (or rewrite) ``RUN/report.html`` from what the run folder holds; returns its path.
    UserError if ``run_path`` is not a run.

    Args:
        command: the ``keraslab train`` line that starts a run with the same settings
            (:func:`keraslab.recipes.train_command`), shown on the page; None: not known.
    """
    contents = read_run(run_path)
    path = contents.run.path / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(run_page(contents, command), encoding="utf-8")
    return path


# ---- the comparison ---------------------------------------------------------------------------
def _labels(runs: list[RunContents]) -> list[str]:
    """Run folder names; a name two runs share gets its parent folder's name too."""
    names = [c.name for c in runs]
    return [
        f"{c.run.path.parent.name}/{c.name}" if names.count(c.name) > 1 else c.name for c in runs
    ]


def comparison_page(runs: list[RunContents]) -> str:
    """The HTML of a comparison of ``runs`` (see :func:`write_comparison`)."""
    labels = _labels(runs)
    recipes = sorted({c.run.recipe for c in runs})
    body = [
        f"<h1>Comparison of {len(runs)} runs</h1>",
        f'<p class="status">recipes: {_e(", ".join(recipes))}; page written by '
        "<code>keraslab compare</code></p>",
    ]
    runs_table = [
        (label, c.run.recipe, c.run.config.get("backend", "?"), str(c.run.path),
         "complete" if c.complete else "not finished")
        for label, c in zip(labels, runs)
    ]  # fmt: skip
    body.append(
        _section(
            "runs", "Runs", _table(runs_table, ("run", "recipe", "backend", "folder", "status"))
        )
    )
    skipped = [f"{label}: {s}" for label, c in zip(labels, runs) for s in c.skipped]
    keys_by_run = [set(c.metric_keys) for c in runs]
    every = [k for k in dict.fromkeys(k for c in runs for k in c.metric_keys)]
    shared = [k for k in every if all(k in ks for ks in keys_by_run)]
    missing = []
    for k in every:
        if k not in shared:
            lacking = [label for label, ks in zip(labels, keys_by_run) if k not in ks]
            missing.append(f"{k}: not logged by {', '.join(lacking)}")
    if skipped:
        items = "".join(f"<li>{_e(s)}</li>" for s in skipped)
        body.append(f'<div class="notes" id="skipped"><b>Skipped</b><ul>{items}</ul></div>')
    body.append(_section("settings", "Settings that differ", _settings_diff(runs, labels)))
    charts = [
        svg_chart({label: _points(c.rows, k) for label, c in zip(labels, runs)}, k) for k in shared
    ]
    curves = "".join(charts) if charts else "<p>The runs share no logged metric.</p>"
    curves = f'<div class="charts">{curves}</div>'
    if missing:  # below the charts, not one more item of their row
        curves += "<p>Metrics not in every run (not drawn):</p><ul>" + "".join(
            f"<li>{_e(m)}</li>" for m in missing
        ) + "</ul>"  # fmt: skip
    body.append(_section("curves", "Curves", curves))
    body.append(_section("metrics", "Final metrics", _metrics_side_by_side(runs, labels)))
    body.append(_section("resources", "Resources", _resources_side_by_side(runs, labels)))
    body.append(_section("samples", "Last samples", _last_samples(runs, labels)))
    return _page("keraslab comparison", body)


def _settings_diff(runs: list[RunContents], labels: list[str]) -> str:
    configs = [{k: v for k, v in _flatten(c.run.config).items() if k != "created"} for c in runs]
    keys = sorted(set().union(*configs))
    rows = []
    for k in keys:
        values = [cfg.get(k, "—") for cfg in configs]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            rows.append((k, *values))
    if not rows:
        return "<p>All settings are equal.</p>"
    return _table(rows, ("setting", *labels))


def _metrics_side_by_side(runs: list[RunContents], labels: list[str]) -> str:
    flats = []
    for c in runs:
        flat = {
            k: v
            for k, v in _flatten(c.summary).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        for key, result in c.evaluation.items():
            if isinstance(result, dict):
                for k, v in _flatten(result).items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        flat[f"evaluation {key}: {k}"] = v
        flats.append(flat)
    keys = list(dict.fromkeys(k for f in flats for k in f))
    if not keys:
        return "<p>No run has final metrics yet (summary.json is written when a run ends).</p>"
    rows = [(k, *[f.get(k, "—") for f in flats]) for k in keys]
    return _table(rows, ("metric", *labels))


def _resources_side_by_side(runs: list[RunContents], labels: list[str]) -> str:
    rows = []
    for key in RESOURCE_KEYS:
        values = []
        for c in runs:
            pts = [v for _, v in _points(c.rows, key)]
            if not pts:
                values.append("—")
            else:
                values.append(max(pts) if key == "peak_rss_mb" else sum(pts) / len(pts))
        if any(v != "—" for v in values):
            rows.append((RESOURCE_LABELS[key], *values))
    return _table(rows, ("figure (mean; memory: maximum)", *labels)) if rows else (
        "<p>No resource figures logged.</p>"
    )  # fmt: skip


def _last_samples(runs: list[RunContents], labels: list[str]) -> str:
    parts = []
    for label, c in zip(labels, runs):
        for name, kind, files in _sequences(c.run):
            caption = f"{_e(label)}: {_e(name)}, epoch {_e(_epoch_of(files[-1]))}"
            if kind == "img":
                parts.append(
                    f'<figure class="picture"><img src="{_image_src(files[-1], None)}" '
                    f'alt="{_e(label)} {_e(name)}"><figcaption>{caption}</figcaption></figure>'
                )
            else:
                parts.append(f"<h3>{caption}</h3><pre>{_e(_read_text(files[-1]))}</pre>")
    return "".join(parts) or "<p>No samples saved by these runs.</p>"


def write_comparison(run_paths, out) -> Path:
    """Write a comparison page of the runs at ``run_paths`` (at least two) to ``out``."""
    run_paths = list(run_paths)
    if len(run_paths) < 2:
        raise UserError("compare needs at least two runs: keraslab compare RUN1 RUN2 [...].")
    runs = [read_run(p) for p in run_paths]
    resolved = [c.run.path.resolve() for c in runs]
    if len(set(resolved)) < len(resolved):
        raise UserError("the same run is named twice: give different run folders.")
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(comparison_page(runs), encoding="utf-8")
    return out
