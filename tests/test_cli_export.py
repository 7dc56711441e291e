"""Take the model home: `sample --out X.npy` writes the raw images, `export` writes a standard
.keras file that keras.saving.load_model reads on every backend after `import keraslab`; bad
input is one line, exit 2, nothing written."""

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import assert_one_line_error, cli_env, run_cli, snapshot

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--batch-size", "64", "--quiet", "--epochs", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    run_cli("train", "dcgan", *TINY, "--out", out, check=True)  # default backend (tensorflow)
    run_cli("train", "vae", *TINY, "--latent-dim", "2", "--ll-images", "4", "--backend", "torch",
            "--out", out, check=True)  # fmt: skip
    return {p.name.rsplit("-", 2)[0]: p for p in out.iterdir()}


def test_sample_npy_writes_raw_images_and_their_grid(runs, tmp_path):
    out = tmp_path / "samples.npy"
    proc = run_cli("sample", runs["dcgan"], "--n", "10", "--out", out, check=True)
    assert proc.stdout.strip() == str(out)
    x = np.load(out)
    assert x.shape == (10, 8, 8, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert (tmp_path / "samples.png").is_file()


def _generate_in(backend, path, z_path, kind):
    """Outputs of the exported file, loaded in a fresh process on ``backend``."""
    code = f"""
        import numpy as np, keras, keraslab
        m = keras.saving.load_model({str(path)!r})
        z = np.load({str(z_path)!r})
        out = m.predict(z, verbose=0) if {kind!r} == "generator" else m.generate(z)
        np.save({str(path) + "." + backend + ".npy"!r}, np.asarray(out))
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=cli_env({"KERAS_BACKEND": backend}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(str(path) + "." + backend + ".npy")


@pytest.mark.parametrize("recipe, kind, dim", [("dcgan", "generator", 64), ("vae", "vae", 2)])
def test_export_round_trip_on_every_backend(runs, tmp_path, recipe, kind, dim):
    z = np.random.default_rng(0).standard_normal((6, dim)).astype("float32")
    np.save(tmp_path / "z.npy", z)
    reference = tmp_path / "ref.npy"  # what the run itself generates from these latents
    run_cli("sample", runs[recipe], "--latents", tmp_path / "z.npy", "--out", reference, check=True)
    expected = np.load(reference)
    exported = tmp_path / f"{recipe}.keras"
    proc = run_cli("export", runs[recipe], "--out", exported, check=True)
    assert proc.stdout.strip() == str(exported) and exported.is_file()
    for backend in ("jax", "tensorflow", "torch"):
        got = _generate_in(backend, exported, tmp_path / "z.npy", kind)
        np.testing.assert_allclose(got, expected, atol=2e-5, err_msg=backend)


def test_export_and_sample_bad_input(runs, tmp_path):
    run = runs["dcgan"]
    before = snapshot(run)
    empty = tmp_path / "fresh-run"  # a run folder without checkpoints yet
    empty.mkdir()
    shutil.copy(run / "config.json", empty / "config.json")
    exists = tmp_path / "taken.keras"
    exists.write_text("mine")
    cases = [
        (["export", empty, "--out", tmp_path / "a.keras"], ["no checkpoint"]),
        (["export", run, "--out", exists], ["exists", "--force"]),
        (["export", run, "--out", tmp_path / "a.h5"], [".keras"]),
        (["export", tmp_path / "nope", "--out", tmp_path / "a.keras"], ["not a run folder"]),
        (["sample", run, "--out", tmp_path / "a.jpg"], [".png", ".npy"]),
        (["sample", run, "--n", "1000000", "--out", tmp_path / "a.npy"], ["at most"]),
        (["train", "dcgan", "--arch", "resnet", "--out", tmp_path / "r"], ["dcgan", "lecture"]),
        (["train", "vae", "--arch", "dcgan", "--out", tmp_path / "r"], ["--arch", "vae"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(run_cli(*args), *fragments)
    assert exists.read_text() == "mine" and snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh-run", "taken.keras"]
    assert sorted(p.name for p in empty.iterdir()) == ["config.json"]
    (tmp_path / "s.png").write_text("mine")  # .npy writes its grid too: refuse to clobber it
    assert_one_line_error(run_cli("sample", run, "--out", tmp_path / "s.npy"), "s.png", "exists")
    assert (tmp_path / "s.png").read_text() == "mine" and not (tmp_path / "s.npy").exists()
    # --force overwrites
    run_cli("export", run, "--out", exists, "--force", check=True)
    assert exists.stat().st_size > 1000
    assert json.loads((run / "config.json").read_text())["arch"] == "dcgan"
