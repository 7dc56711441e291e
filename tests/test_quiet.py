"""A quiet CLI on every CPU: TensorFlow is imported only when it is the backend, whatever it prints
to file descriptor 2 while importing stays off the terminal, and failing commands do not load
Keras at all. Every check runs in a fresh process (imports are per process)."""

import subprocess
import sys
import textwrap

import pytest

from helpers import cli_env, default_sigint

# A stand-in `tensorflow` that writes to fd 2 from "C++" (os.write bypasses sys.stderr) when it is
# imported, as TensorFlow's oneDNN / absl start-up lines do on AVX-512 CPUs.
FAKE_TF = 'import os\nos.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\\n")\n'


def _python(code, tmp_path=None, env=None):
    path = [str(tmp_path)] if tmp_path else []
    full = cli_env({"PYTHONPATH": ":".join([*path, *sys.path]), **(env or {})})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
        preexec_fn=default_sigint,
    )


@pytest.fixture
def fake_tf(tmp_path):
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TF)
    return tmp_path


def test_the_fake_is_noisy_without_the_silencer(fake_tf):
    proc = _python("import tensorflow; print('ok')", fake_tf)
    assert proc.stdout.strip() == "ok" and "oneDNN" in proc.stderr


def test_silencer_keeps_import_time_output_off_stderr(fake_tf):
    proc = _python(
        """
        import sys
        import importlib.util
        from keraslab.cli.quiet import silence_tensorflow_import
        silence_tensorflow_import()
        assert importlib.util.find_spec("tensorflow")  # an "installed?" check keeps the hook
        import tensorflow
        print("after", file=sys.stderr)   # stderr works again after the import
        import os; os.write(2, b"fd2 back\\n")
        """,
        fake_tf,
    )
    assert proc.returncode == 0, proc.stderr
    assert "oneDNN" not in proc.stderr
    assert "after" in proc.stderr and "fd2 back" in proc.stderr


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_set_seed_does_not_import_tensorflow(backend):
    proc = _python(
        """
        import sys, keras
        from keraslab.engine import set_seed
        set_seed(3)
        a = keras.random.normal((2,)); set_seed(3); b = keras.random.normal((2,))
        import numpy as np
        assert np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        print("tensorflow" in sys.modules)
        """,
        env={"KERAS_BACKEND": backend},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_a_command_that_fails_on_its_arguments_loads_no_framework():
    proc = _python(
        """
        import sys
        from keraslab.cli import main
        code = main(["train", "dcgan", "--arch", "nope", "--out", "/nonexistent/x"])
        code2 = main(["sample", "/nonexistent-run"])
        heavy = [m for m in ("keras", "tensorflow", "torch", "jax") if m in sys.modules]
        print(code, code2, heavy)
        """
    )
    assert proc.stdout.strip() == "2 2 []", proc.stdout + proc.stderr


def test_keras_classes_are_registered_after_import_keraslab():
    # The last three import Keras from inside a half-imported keraslab package (a script whose
    # first line is ``from keraslab.engine import PhasedModel``): no circular import.
    orders = ("import keraslab, keras", "import keras, keraslab",
              "import keraslab.engine, keras", "import keraslab.models, keras",
              "import keraslab.layers, keras")  # fmt: skip
    for order in orders:
        proc = _python(
            f"""
            import sys
            {order}
            names = ["keraslab>DCGAN", "keraslab>Conv2DTranspose", "keraslab>Translator"]
            print(all(keras.saving.get_registered_object(n) is not None for n in names))
            """,
            env={"KERAS_BACKEND": "jax"},
        )
        assert proc.stdout.strip() == "True", (order, proc.stderr)


# A Ctrl-C delivered while a gc callback or a __del__ runs (jax's _xla_gc_callback is one; Keras
# imports jax on every backend) is "unraisable": Python's default hook prints "Exception ignored
# in ..." and drops it, and the run goes on. keep_ctrl_c re-raises it in the main thread.
SWALLOWED = """
    import gc, time
    {setup}
    class Pressed:
        def __del__(self):
            raise KeyboardInterrupt
    try:
        Pressed()  # dropped at once: __del__ raises where nobody can catch it
        gc.collect()
        for _ in range(100):
            time.sleep(0.01)
        print("went on")
    except KeyboardInterrupt:
        print("interrupted")
"""


def test_without_the_hook_a_ctrl_c_in_del_is_printed_and_lost():
    proc = _python(SWALLOWED.format(setup=""))
    assert proc.stdout.strip() == "went on" and "Exception ignored" in proc.stderr


def test_keep_ctrl_c_reraises_it_in_the_main_thread_and_prints_nothing():
    setup = "from keraslab.cli.quiet import keep_ctrl_c; keep_ctrl_c(); keep_ctrl_c()"
    proc = _python(SWALLOWED.format(setup=setup))
    assert proc.stdout.strip() == "interrupted" and proc.stderr == "", proc.stderr


def test_keep_ctrl_c_passes_other_unraisable_errors_on():
    setup = (
        "from keraslab.cli.quiet import keep_ctrl_c; keep_ctrl_c()\n"
        "    class Broken:\n"
        "        def __del__(self):\n"
        "            raise ValueError('from del')\n"
        "    Broken()"
    )
    proc = _python(SWALLOWED.format(setup=setup))
    assert proc.stdout.strip() == "interrupted" and "ValueError: from del" in proc.stderr


def test_the_cli_installs_it():
    proc = _python(
        "import sys; from keraslab import cli\n"
        "code = cli.main(['list'])\n"
        "print(getattr(sys.unraisablehook, '_keraslab', False), code)"
    )
    assert proc.stdout.strip().splitlines()[-1] == "True 0", proc.stdout + proc.stderr
