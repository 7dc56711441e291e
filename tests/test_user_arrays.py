"""Arrays from the user (`sample --latents FILE`, `sample --images FILE`): any array, of any
dtype, rank, size and values, either loads as what the model takes or is refused in one line
(issue 18). A property test (hypothesis) against an independent statement of what is valid, then
the same cases through the CLI on real runs."""

import io
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import assert_one_line_error, run_cli, snapshot

IMAGE_SHAPE = (4, 4, 1)
LATENT_DIM = 3
MAX_ROWS = 100_000

DTYPES = st.sampled_from(
    [
        "float16",
        "float32",
        "float64",
        "int8",
        "int64",
        "uint8",
        "uint16",
        "bool",
        "complex64",
        "<U3",
        "datetime64[s]",
    ]  # fmt: skip
)
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
    st.sampled_from([(2, 4, 4), (2, 4, 4, 1), (3, 4, 4, 1), (0, 4, 4, 1), (1, 3), (5, 3), (0, 3)]),
)


@st.composite
def user_arrays(draw):
    dtype = np.dtype(draw(DTYPES))
    shape = draw(SHAPES)
    if dtype.kind == "f":
        elements = st.one_of(
            st.floats(0, 1, width=16),
            st.floats(-2, 2, width=16),
            st.sampled_from([float("nan"), float("inf"), -float("inf")]),
        )
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


def _valid_images(x: np.ndarray) -> bool:
    """What `--images` must accept, stated independently of the code under test."""
    if x.dtype.kind not in "biuf":
        return False
    shape = x.shape + (1,) if x.ndim == 3 else x.shape
    if len(shape) != 4 or shape[1:] != IMAGE_SHAPE or not 1 <= shape[0] <= MAX_ROWS:
        return False
    if x.dtype == np.uint8:
        return True
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isfinite(x)) and np.all((x >= 0) & (x <= 1)))


def _valid_latents(x: np.ndarray) -> bool:
    if x.dtype.kind not in "biuf" or x.ndim != 2 or x.shape[1] != LATENT_DIM:
        return False
    return 1 <= len(x) <= MAX_ROWS and bool(np.all(np.isfinite(x.astype("float64"))))


def _check(load, path, x, valid):
    from keraslab.errors import UserError

    try:
        out = load(path)
    except UserError as e:
        assert not valid, (x.dtype, x.shape, str(e))
        message = str(e)
        assert "\n" not in message and (str(path) in message or "standard input" in message)
        return None
    assert valid, (x.dtype, x.shape, "accepted")
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=user_arrays(), container=st.sampled_from(["npy", "npz"]))
def test_any_user_array_loads_as_the_model_takes_it_or_is_one_line(x, container):
    from keraslab.recipes.images import user_images, user_latents

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"user.{container}")
        if container == "npy":
            np.save(path, x, allow_pickle=False)
        else:
            np.savez(path, x)
        images = _check(lambda p: user_images(p, IMAGE_SHAPE), path, x, _valid_images(x))
        if images is not None:
            assert images.shape == (len(x), *IMAGE_SHAPE)
            assert images.min() >= 0 and images.max() <= 1
            expected = x.reshape(images.shape).astype("float64")
            expected = expected / 255 if x.dtype == np.uint8 else expected
            np.testing.assert_allclose(images, expected, rtol=1e-6, atol=1e-7)
        latents = _check(lambda p: user_latents(p, LATENT_DIM), path, x, _valid_latents(x))
        if latents is not None:
            np.testing.assert_array_equal(latents, x.astype("float32"))


def test_files_that_are_not_arrays_are_one_line(tmp_path):
    from keraslab.errors import UserError
    from keraslab.recipes.images import user_images

    cases = {
        "text.npy": b"not an array\n",
        "empty.npy": b"",
        "cut.npy": _npy(np.zeros((4, 4, 4, 1), "float32"))[:90],  # a header, no data
        "objects.npy": _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
        "two.npz": _npz(a=np.zeros((1, 4, 4, 1)), b=np.zeros((1, 4, 4, 1))),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError) as e:
            user_images(tmp_path / name, IMAGE_SHAPE)
        assert "\n" not in str(e.value) and name in str(e.value), (name, str(e.value))
    for path, fragment in ((tmp_path / "missing.npy", "does not exist"), (tmp_path, "a folder")):
        with pytest.raises(UserError, match=fragment):
            user_images(path, IMAGE_SHAPE)


def _npy(x, allow_pickle=False) -> bytes:
    f = io.BytesIO()
    np.save(f, x, allow_pickle=allow_pickle)
    return f.getvalue()


def _npz(**arrays) -> bytes:
    f = io.BytesIO()
    np.savez(f, **arrays)
    return f.getvalue()


# ---- through the CLI, on real runs ---------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-epoch dcgan (latent dim 4) and dense autoencoder (latent dim 2) run on digits."""
    out = tmp_path_factory.mktemp("runs")
    common = ["--dataset", "digits", "--subset", "64", "--batch-size", "32", "--epochs", "1",
              "--quiet", "--backend", "torch"]  # fmt: skip
    run_cli("train", "dcgan", *common, "--latent-dim", "4", "--out", out / "g", check=True)
    run_cli("train", "autoencoder", *common, "--kind", "dense", "--latent-dim", "2",
            "--out", out / "a", check=True)  # fmt: skip
    (gan,) = (out / "g").iterdir()
    (ae,) = (out / "a").iterdir()
    return gan, ae


@pytest.mark.slow
@pytest.mark.parametrize(  # NaN, rank, no rows; the property test above covers the rest
    "which, option, array, fragment",
    [
        ("gan", "--latents", np.full((2, 4), np.nan, "float32"), "NaN or infinite"),
        ("gan", "--latents", np.zeros((4,), "float32"), "shape (4,)"),
        ("ae", "--images", np.zeros((0, 8, 8, 1), "float32"), "no images"),
    ],
)  # fmt: skip
def test_bad_user_arrays_on_the_cli_are_one_line_and_write_nothing(
    runs, tmp_path, which, option, array, fragment
):
    run = runs[0] if which == "gan" else runs[1]
    path = tmp_path / "user.npy"
    np.save(path, array, allow_pickle=False)
    before = snapshot(run)
    proc = run_cli("sample", run, option, path, "--out", tmp_path / "out.png")
    assert_one_line_error(proc, fragment, str(path))
    assert snapshot(run) == before and not (tmp_path / "out.png").exists()


@pytest.mark.slow
def test_latents_from_standard_input(runs, tmp_path):
    from PIL import Image

    z = np.random.default_rng(0).normal(size=(9, 4)).astype("float32")
    out = tmp_path / "from-stdin.npy"
    proc = run_cli("sample", runs[0], "--latents", "-", "--out", out, input=_npy(z))
    assert proc.returncode == 0, proc.stderr[-2000:]
    images = np.load(out)
    assert images.shape == (9, 8, 8, 1) and 0 <= images.min() and images.max() <= 1
    assert Image.open(out.with_suffix(".png")).size[0] > 3 * 8
    # the same latents from a file give the same images
    (tmp_path / "z.npy").write_bytes(_npy(z))
    again = tmp_path / "from-file.npy"
    run_cli("sample", runs[0], "--latents", tmp_path / "z.npy", "--out", again, check=True)
    np.testing.assert_array_equal(np.load(again), images)


@pytest.mark.slow
def test_a_training_file_from_standard_input_is_refused(tmp_path):
    proc = run_cli("train", "gpt", "--text", "-", "--out", tmp_path / "runs")
    assert_one_line_error(proc, "--text", "not standard input")
    assert not (tmp_path / "runs").exists()
