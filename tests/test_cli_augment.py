"""`keraslab augment images|text|table` end to end: outputs written, seeded, inputs never
modified, existing outputs refused, bad input one line (exit 2) with nothing written."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli, snapshot

pytestmark = pytest.mark.slow


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "photos"
    (root / "cats").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (20, 16, 3), dtype=np.uint8)).save(root / "cats" / "a.png")
    Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(root / "b.jpg")
    return root


def test_augment_images_writes_copies_and_a_preview_seeded(image_folder, tmp_path):
    before = snapshot(image_folder)
    out = tmp_path / "aug"
    args = ["augment", "images", image_folder, "--n", "3", "--backend", "torch"]
    proc = run_cli(*args, "--out", out, "--preview", tmp_path / "grid.png")
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert names == ["b-aug1.png", "b-aug2.png", "b-aug3.png",
                     "cats/a-aug1.png", "cats/a-aug2.png", "cats/a-aug3.png"]  # fmt: skip
    for name, source in (("cats/a-aug1.png", "cats/a.png"), ("b-aug2.png", "b.jpg")):
        original = np.asarray(Image.open(image_folder / source))
        copy = np.asarray(Image.open(out / name))
        assert copy.shape == original.shape and copy.dtype == np.uint8
        assert np.abs(copy.astype(int) - original).mean() > 1
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size[0] > grid.size[1]  # 4 columns (original + 3), 2 rows
    assert snapshot(image_folder) == before  # the inputs are untouched
    again = tmp_path / "again"
    run_cli(*args, "--out", again, check=True)
    assert snapshot(again) == snapshot(out)  # the same seed: the same bytes
    # running into the same --out refuses and changes nothing
    written = snapshot(out)
    assert_one_line_error(run_cli(*args, "--out", out), "exists", "nothing was written")
    assert snapshot(out) == written


def test_augment_images_refuses_a_folder_with_other_files(image_folder, tmp_path):
    (image_folder / "notes.txt").write_text("not an image")
    proc = run_cli("augment", "images", image_folder, "--out", tmp_path / "aug")
    assert_one_line_error(proc, "notes.txt is not an image")
    assert not (tmp_path / "aug").exists()
    (image_folder / "notes.txt").unlink()
    (image_folder / "broken.png").write_bytes(b"\x89PNG not really")
    proc = run_cli("augment", "images", image_folder, "--out", tmp_path / "aug")
    assert_one_line_error(proc, "broken.png cannot be read as an image")
    assert not (tmp_path / "aug").exists() or not list((tmp_path / "aug").rglob("*.png"))


def test_augment_text(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("The film was wonderful.\n\nThe food was cold and the waiter rude.\n")
    before = source.read_bytes()
    out = tmp_path / "out.txt"
    proc = run_cli("augment", "text", source, "--n", "3", "--keep", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert len(lines) == 8 and lines[0] == "The film was wonderful."  # original, then 3 copies
    assert lines[4] == "The food was cold and the waiter rude."
    assert len(set(lines[5:8])) > 1
    assert source.read_bytes() == before
    identity = tmp_path / "same.txt"
    run_cli("augment", "text", source, "--n", "2", "--synonyms", "0", "--insert", "0",
            "--swap", "0", "--delete", "0", "--out", identity, check=True)  # fmt: skip
    assert identity.read_text().splitlines() == [lines[0]] * 2 + [lines[4]] * 2
    assert_one_line_error(run_cli("augment", "text", source, "--out", out), "exists")
    source.write_bytes(b"fine\ncaf\xe9\n")
    assert_one_line_error(
        run_cli("augment", "text", source, "--out", tmp_path / "x.txt"), "not UTF-8", "line 2"
    )
    assert not (tmp_path / "x.txt").exists()


def test_augment_table(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=60), "n": rng.integers(0, 9, 60),
                       "label": ["no"] * 50 + ["yes"] * 10})  # fmt: skip
    source = tmp_path / "t.csv"
    df.to_csv(source, index=False)
    before = source.read_bytes()
    out = tmp_path / "balanced.csv"
    proc = run_cli("augment", "table", source, "--target", "label", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no 50, yes 10 -> no 50, yes 50" in proc.stdout
    balanced = pd.read_csv(out)
    assert list(balanced.columns) == ["x", "n", "label"] and len(balanced) == 100
    assert balanced["n"].dtype.kind == "i" and not balanced.isna().any().any()
    assert source.read_bytes() == before
    for args, fragment in [
        (("--target", "nope"), "no column 'nope'"),
        (("--target", "label", "--k", "10"), "use --k 9 or fewer"),
    ]:
        proc = run_cli("augment", "table", source, *args, "--out", tmp_path / "x.csv")
        assert_one_line_error(proc, fragment)
    gan = tmp_path / "gan.csv"
    proc = run_cli("augment", "table", source, "--target", "label", "--method", "gan",
                   "--epochs", "5", "--backend", "torch", "--out", gan)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no 50, yes 10 -> no 50, yes 50 (gan)" in proc.stdout
    assert "tabular GAN" in proc.stderr and "epoch 5/5" in proc.stderr  # progress lines
    synthetic = pd.read_csv(gan)
    assert list(synthetic.columns) == ["x", "n", "label"] and synthetic["n"].dtype.kind == "i"
    df.assign(label="no").to_csv(tmp_path / "one.csv", index=False)
    proc = run_cli("augment", "table", tmp_path / "one.csv", "--target", "label",
                   "--out", tmp_path / "x.csv")  # fmt: skip
    assert_one_line_error(proc, "one class")
    assert not (tmp_path / "x.csv").exists() and source.read_bytes() == before
