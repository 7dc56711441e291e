"""`keraslab visualize`, `style-transfer` and `plot` end to end on small models, and their
one-line errors (exit 2, nothing written)."""

import os

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A tiny convnet saved as .keras (made in a child process: the backend is the CLI's)."""
    path = tmp_path_factory.mktemp("model") / "small.keras"
    code = (
        "import keras, sys\n"
        "keras.utils.set_random_seed(0)\n"
        "i = keras.Input((32, 32, 3))\n"
        "x = keras.layers.Conv2D(8, 3, padding='same', activation='relu', name='conv_a')(i)\n"
        "x = keras.layers.Conv2D(8, 3, strides=2, padding='same', name='conv_b')(x)\n"
        "x = keras.layers.GlobalAveragePooling2D(name='pool')(x)\n"
        "keras.Model(i, keras.layers.Dense(5, name='logits')(x)).save(sys.argv[1])\n"
    )
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "torch"}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    return path


def test_filters_class_and_saliency_pictures(small_model, tmp_path):
    out = tmp_path / "filters.png"
    proc = run_cli("visualize", "filters", small_model, "--layer", "conv_b", "--n", "4",
                   "--steps", "20", "--out", out, "--backend", "torch", check=True)  # fmt: skip
    assert Image.open(out).size[0] > 32 and "conv_b: epoch 10/10" in proc.stderr
    grid = np.asarray(Image.open(out))
    assert grid.std() > 1  # not a blank picture
    out = tmp_path / "class.png"
    run_cli("visualize", "class", small_model, "--class", "3", "--n", "2", "--steps", "10",
            "--out", out, "--backend", "torch", check=True)  # fmt: skip
    assert Image.open(out).size[0] > 32
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), "uint8")).save(photo)
    out = tmp_path / "saliency.png"
    run_cli("visualize", "saliency", small_model, "--image", photo, "--out", out,
            "--backend", "torch", check=True)  # fmt: skip
    assert Image.open(out).size == (2 + 2 * 34, 2 + 34)  # image | map, 32 px each


def test_plot_draws_the_model(small_model, tmp_path):
    out = tmp_path / "model.png"
    run_cli("plot", small_model, "--out", out, "--show-shapes", "--backend", "torch", check=True)
    assert Image.open(out).size[1] > 200  # four boxes and more, one under the other


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["visualize", "filters", "{model}", "--layer", "nope"], ["no layer named 'nope'", "conv_a, conv_b"]),
        (["visualize", "filters", "{model}", "--layer", "logits"], ["Dense", "not a convolution"]),
        (["visualize", "saliency", "{model}", "--image", "{text}"], ["not a readable image"]),
        (["style-transfer", "{text}", "skimage:brick"], ["not a readable image"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(small_model, tmp_path, args, fragments):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    args = [a.format(model=small_model, tmp=tmp_path, text=text) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_cli(*args, "--out", tmp_path / "x.png", "--backend", "torch")
    assert_one_line_error(proc, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_existing_output_is_not_overwritten(small_model, tmp_path):
    out = tmp_path / "model.png"
    out.write_bytes(b"mine")
    proc = run_cli("plot", small_model, "--out", out)
    assert_one_line_error(proc, "exists")
    assert out.read_bytes() == b"mine"


def test_plot_without_graphviz_names_the_install(small_model, tmp_path):
    env = {"PATH": os.path.dirname(os.sys.executable)}  # python, but no `dot`
    proc = run_cli("plot", small_model, "--out", tmp_path / "m.png", env=env)
    assert_one_line_error(proc, "graphviz", "apt-get install graphviz")
    assert not (tmp_path / "m.png").exists()
