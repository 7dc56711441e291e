"""The vision commands' inputs: MODEL and image arguments, one-line errors."""

import numpy as np
import pytest
from PIL import Image

from keraslab.cli.vision import load_model, read_image
from keraslab.errors import UserError

pytestmark = pytest.mark.backend


def test_model_argument_errors(tmp_path):
    with pytest.raises(UserError, match="no such file or run folder"):
        load_model(str(tmp_path / "missing.keras"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not a .keras file"):
        load_model(str(tmp_path / "notes.txt"))
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable Keras model"):
        load_model(str(tmp_path / "broken.keras"))


def test_read_image_resizes_and_crops_and_reads_bundled_photos(tmp_path):
    Image.fromarray(np.zeros((40, 80, 3), "uint8")).save(tmp_path / "wide.png")
    x = read_image(str(tmp_path / "wide.png"), size=32)
    assert x.shape == (32, 32, 3) and x.dtype == np.float32
    coffee = read_image("skimage:coffee")
    assert coffee.shape == (400, 600, 3) and 0 <= coffee.min() and coffee.max() <= 1
    Image.fromarray(np.zeros((10, 10), "uint8")).save(tmp_path / "grey.png")
    assert read_image(str(tmp_path / "grey.png")).shape == (10, 10, 3)
    with pytest.raises(UserError, match="not a bundled photo.*chelsea"):
        read_image("skimage:nope")
    with pytest.raises(UserError, match="no such image file"):
        read_image(str(tmp_path / "none.png"))
