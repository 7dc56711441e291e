"""report.html and compare.html from run folders (Keras-free): every section, what an
unfinished or damaged run still shows, the reproducing command (parsed back by the CLI's own
parser), a comparison of runs of different recipes, and one-line errors. The pages of real runs
in a real browser are tested with the runs of tests/test_cli_generative.py."""

import json
import re
from dataclasses import asdict

import numpy as np
import pytest
from PIL import Image

from browser import REPORT_SECTIONS, open_page
from helpers import assert_one_line_error, run_cli, snapshot


def make_run(folder, recipe="dcgan", rows=(), pngs=0, texts=(), summary=None, evaluation=None,
             **settings):  # fmt: skip
    """A run folder as `keraslab train` leaves it: config.json with the recipe's default
    settings (and ``settings``), metrics.jsonl, samples/epoch_NNN.png|txt, summary.json."""
    from keraslab.recipes import recipe_info

    info = recipe_info(recipe)
    config = {**asdict(info.Config()), **settings, "recipe": recipe, "backend": "torch",
              "created": "2026-12-02T10:00:00", "system": {"keras": "3.15.1", "python": "3.11"}}  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rng = np.random.default_rng(0)
    for i in range(1, pngs + 1):
        (folder / "samples").mkdir(exist_ok=True)
        grid = rng.integers(0, 256, (20, 30, 3), dtype="uint8")
        Image.fromarray(grid).save(folder / "samples" / f"epoch_{i:03d}.png")
    for i, text in enumerate(texts, 1):
        (folder / "samples").mkdir(exist_ok=True)
        (folder / "samples" / f"epoch_{i:03d}.txt").write_text(text)
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    if evaluation is not None:
        (folder / "evaluation.json").write_text(json.dumps(evaluation))
    return folder


def rows(n, **extra):
    return [
        {"epoch": e, "seconds": 1.0 + e, "samples_per_second": 100.0 * e, "peak_rss_mb": 500.0 + e,
         "d_loss": 1.0 / e, "g_loss": 2.0 + e, **extra}
        for e in range(1, n + 1)
    ]  # fmt: skip


def polylines(page: str) -> list[int]:
    """The number of points of each curve on a page."""
    return [len(p.split()) for p in re.findall(r'<polyline points="([^"]*)"', page)]


def test_report_of_a_finished_run_has_every_section(tmp_path):
    from keraslab.runs.report import write_report

    run = make_run(
        tmp_path / "dcgan-1", rows=rows(4), pngs=4, summary={"fid": 12.5, "epochs": 4},
        evaluation={"fid-last-2000": {"fid": 11.25, "kid": 0.0125}},
        epochs=4, latent_dim=8,
    )  # fmt: skip
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(run / "fid_curve.png")
    page = write_report(run).read_text()
    for section in REPORT_SECTIONS:
        assert f'<section id="{section}">' in page, section
    assert polylines(page).count(4) == 5  # d_loss, g_loss and the 3 resource figures
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs == ["samples/epoch_004.png", "fid_curve.png"]  # relative: opens from the disk
    assert all((run / s).is_file() for s in srcs)
    frames = json.loads(re.search(r'data-frames="([^"]+)"', page).group(1).replace("&quot;", '"'))
    assert frames["frames"] == [f"samples/epoch_{i:03d}.png" for i in range(1, 5)]
    assert "12.5" in page and "11.25" in page and "0.0125" in page  # summary and evaluation
    assert "complete: 4 epoch(s) logged" in page
    assert "<script src" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # nothing from the network


def test_report_of_an_unfinished_run_with_a_corrupt_line_says_what_it_skipped(tmp_path):
    from keraslab.runs.report import write_report

    run = make_run(tmp_path / "dcgan-2", rows=rows(3), epochs=10)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "seconds": 1.0, "d_lo')  # cut by a crash
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, "not json at all")
    (run / "metrics.jsonl").write_text("\n".join(lines))
    page = write_report(run).read_text()
    assert "not finished (in progress, or stopped): 3 of 10 epoch(s) logged" in page
    assert "2 line(s) not readable as JSON (line 2, 5); skipped." in page
    assert polylines(page).count(3) == 5  # what could be read is drawn
    assert "None yet: summary.json is written when the run ends." in page
    (run / "summary.json").write_text("{broken")
    page = write_report(run).read_text()
    assert "summary.json: damaged (not JSON); skipped." in page


def test_report_of_a_run_before_its_first_epoch(tmp_path):
    from keraslab.runs.report import write_report

    run = make_run(tmp_path / "vae-3", recipe="vae")
    (run / "metrics.jsonl").unlink()
    page = write_report(run).read_text()
    assert "No epoch has been logged yet." in page and "0 of" in page


def test_report_shows_text_samples_of_every_epoch(tmp_path):
    from keraslab.runs.report import write_report

    texts = ["el perro <b>ve</b> el gato", "el perro ve al gato ."]
    run = make_run(tmp_path / "translator-1", recipe="translator", rows=rows(2), texts=texts)
    page = write_report(run).read_text()
    assert "<pre>el perro ve al gato .</pre>" in page  # the last epoch's, escaped as text
    frames = re.search(r'data-kind="text" data-frames="([^"]+)"', page).group(1)
    assert json.loads(frames.replace("&quot;", '"').replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&"))["frames"] == texts  # fmt: skip


@pytest.mark.parametrize(
    "recipe, settings",
    [
        ("dcgan", {"epochs": 3, "subset": None, "arch": "lecture", "conditional": True}),
        (
            "translator",
            {"direction": "es-en", "epochs": 2, "dataset": "pairs", "pairs": "/tmp/my pairs.tsv"},
        ),  # fmt: skip
        ("text-classifier", {"balance": "none", "epochs": 4}),
    ],
)
def test_the_reproducing_command_parses_back_to_the_same_settings(tmp_path, recipe, settings):
    import shlex

    from keraslab.cli import build_parser, given
    from keraslab.recipes import recipe_info
    from keraslab.recipes import train_command as reproduce_command

    info = recipe_info(recipe)
    settings = {k: v for k, v in settings.items() if k in asdict(info.Config())}
    config = {**asdict(info.Config()), **settings, "recipe": recipe, "backend": "jax"}
    argv = shlex.split(reproduce_command(config))
    assert argv[:3] == ["keraslab", "train", info.name]
    parser, target = build_parser(argv[1:])
    args = parser.parse_args(argv[1:])
    assert args.backend == "jax"
    values = info.Config.from_cli(given(args, info.Config), info.datasets)
    parsed = asdict(info.Config(**values))
    assert parsed == {k: v for k, v in config.items() if k in parsed}


def test_compare_runs_of_different_recipes_on_their_shared_metrics(tmp_path):
    from keraslab.runs.report import write_comparison

    a = make_run(tmp_path / "a" / "dcgan-1", rows=rows(3), pngs=3, summary={"fid": 20.0}, epochs=3)
    b = make_run(tmp_path / "b" / "dcgan-1", rows=rows(5), summary={"fid": 10.0}, epochs=5)
    c = make_run(tmp_path / "vae-1", recipe="vae", summary={"nll": 95.0},
                 rows=[{"epoch": 1, "seconds": 2.0, "loss": 150.0, "val_loss": 151.0}])  # fmt: skip
    before = {p: snapshot(p) for p in (a, b, c)}
    page = write_comparison([a, b, c], tmp_path / "cmp.html").read_text()
    assert [p for p in (a, b, c) if snapshot(p) != before[p]] == []  # runs only read
    # same folder names: told apart by their parents
    assert "a/dcgan-1" in page and "b/dcgan-1" in page
    # the shared curve (seconds is a resource figure: in the resources table), the others named
    assert (
        "d_loss: not logged by vae-1" in page
        and "val_loss: not logged by a/dcgan-1, b/dcgan-1" in page
    )
    settings = page[page.index('id="settings"') : page.index('id="curves"')]
    for key in ("epochs", "recipe", "beta_1"):  # beta_1: the vae has none (—)
        assert f"<td>{key}</td>" in settings
    assert "<td>seed</td>" not in settings and "<td>backend</td>" not in settings  # all equal
    metrics = page[page.index('id="metrics"') : page.index('id="resources"')]
    assert "<td>fid</td><td>20</td><td>10</td><td>—</td>" in metrics
    assert "<td>nll</td><td>—</td><td>—</td><td>95</td>" in metrics
    assert page.count("data:image/png;base64,") == 1  # a's last grid, embedded


def test_compare_draws_the_shared_curves_of_two_runs(tmp_path):
    from keraslab.runs.report import write_comparison

    a = make_run(tmp_path / "dcgan-1", rows=rows(3))
    b = make_run(tmp_path / "dcgan-2", rows=rows(6))
    page = write_comparison([a, b], tmp_path / "cmp.html").read_text()
    assert sorted(polylines(page)) == [3, 3, 6, 6]  # d_loss and g_loss, one line per run
    assert "Metrics not in every run" not in page


def test_report_and_compare_in_a_browser(tmp_path):
    from keraslab.runs.report import write_comparison, write_report

    run = make_run(tmp_path / "dcgan-1", rows=rows(4), pngs=4, summary={"fid": 3.0})
    other = make_run(tmp_path / "dcgan-2", rows=rows(2), pngs=2)
    seen = open_page(write_report(run), tmp_path / "run.png")
    assert seen["problems"] == [] and seen["broken_images"] == [] and seen["images"] == 1
    assert seen["sections"] == REPORT_SECTIONS and not seen["blank"]
    slider = seen["slider"]
    assert (slider["before"], slider["after"]) == ("epoch 4", "epoch 1")
    assert slider["shown"] == "samples/epoch_001.png" and slider["loaded"]
    seen = open_page(write_comparison([run, other], tmp_path / "c.html"), tmp_path / "c.png")
    assert seen["problems"] == [] and seen["broken_images"] == [] and seen["images"] == 2
    assert seen["sections"] == ["runs", "settings", "curves", "metrics", "resources", "samples"]
    assert not seen["blank"]


def test_the_browser_check_sees_a_blank_page_a_broken_image_and_a_script_error(tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    assert open_page(page, tmp_path / "blank.png")["blank"]
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><h1>Title</h1><img src="missing.png">'
                    "<script>undefinedFunction()</script></body></html>")  # fmt: skip
    seen = open_page(page, tmp_path / "bad.png")
    assert [s.rsplit("/", 1)[-1] for s in seen["broken_images"]] == ["missing.png"]
    assert any("undefinedFunction" in p for p in seen["problems"])
    assert any("missing.png" in p for p in seen["problems"])
    assert not seen["blank"]


def test_report_and_compare_commands(tmp_path):
    a = make_run(tmp_path / "dcgan-1", rows=rows(2))
    b = make_run(tmp_path / "dcgan-2", rows=rows(2))
    proc = run_cli("report", a, check=True)
    assert proc.stdout.strip() == str(a / "report.html") and (a / "report.html").is_file()
    out = tmp_path / "c.html"
    proc = run_cli("compare", a, b, "--out", out, check=True)
    assert proc.stdout.strip() == str(out) and out.is_file()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["report", "{tmp}/nothing"], ["not a run folder"]),
        (["report", "{tmp}"], ["not a keraslab run (no config.json)"]),
        (["compare", "{a}"], ["at least two runs"]),
        (["compare", "{a}", "{a}", "--out", "{tmp}/c.html"], ["the same run is named twice"]),
        (["compare", "{a}", "{tmp}", "--out", "{tmp}/c.html"], ["not a keraslab run"]),
        (["compare", "{a}", "{b}", "--out", "{tmp}/c.txt"], ["--out must end in .html"]),
        (["compare", "{a}", "{b}", "--out", "{tmp}/old.html"], ["exists"]),
        (["report", "{a}", "--backend", "jax"], ["unrecognized arguments: --backend"]),
    ],
)
def test_bad_report_and_compare_input(tmp_path, args, fragments):
    a = make_run(tmp_path / "dcgan-1", rows=rows(2))
    b = make_run(tmp_path / "dcgan-2", rows=rows(2))
    (tmp_path / "old.html").write_text("mine")
    before = snapshot(tmp_path)
    args = [x.format(tmp=tmp_path, a=a, b=b) for x in args]
    assert_one_line_error(run_cli(*args), *fragments)
    assert snapshot(tmp_path) == before
