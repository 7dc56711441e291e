"""Shared test helpers."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# The frameworks a command loads once it has chosen its backend (fixed per process).
FRAMEWORKS = ("keras", "jax", "jaxlib", "tensorflow", "torch")


class _NeedsItsOwnProcess(BaseException):  # not Exception: the CLI's handlers let it through
    """The command got to loading a Keras backend: it must run in a process of its own."""


class _FrameworkGate:  # an importlib MetaPathFinder that refuses the frameworks' first import
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FRAMEWORKS:
            raise _NeedsItsOwnProcess(name)
        return None


def _in_process(args, input):
    """``keraslab ARGS`` in this process, as far as it goes without a Keras backend: most
    refusals of bad input (exit 2 before any framework loads, as tests/test_quiet.py checks) and
    the Keras-free commands. ``None`` when the command reached the choice of backend or the
    import of a framework: nothing has been written by then (the CLI checks everything first),
    and the caller runs it in a fresh process. Saves the ~3-7 s start of a process per case."""
    import contextlib
    import io
    import traceback

    from keraslab.cli import dispatch as cli

    if any(m in sys.modules for m in FRAMEWORKS):  # a test in this worker loaded one
        return None
    raw = input.encode() if isinstance(input, str) else (input or b"")
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    gate = _FrameworkGate()

    def refuse(*_, **__):
        raise _NeedsItsOwnProcess("backend")

    saved = (cli._set_backend, sys.stdin, os.environ.get("KERAS_BACKEND"))
    os.environ.pop("KERAS_BACKEND", None)
    cli._set_backend, sys.stdin = refuse, stdin
    sys.meta_path.insert(0, gate)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as e:  # --help
                code = e.code if isinstance(e.code, int) else 0
            except _NeedsItsOwnProcess:
                return None
            except Exception:  # a bug: what the interpreter would print, exit 1
                traceback.print_exc()
                code = 1
    finally:
        sys.meta_path.remove(gate)
        cli._set_backend, sys.stdin = saved[0], saved[1]
        if saved[2] is not None:
            os.environ["KERAS_BACKEND"] = saved[2]
    return subprocess.CompletedProcess(["keraslab", *args], code, out.getvalue(), err.getvalue())


def run_cli(*args, cwd=None, env=None, timeout=600, check=False, input=None, preexec_fn=None):
    """``keraslab ARGS``: in this process while the command needs no backend
    (:func:`_in_process`; not with ``cwd``, ``env`` or ``preexec_fn``), else ``python -m
    keraslab.cli ARGS`` in a fresh process (the backend is fixed per process); ``input`` is its
    standard input (text or bytes; default: empty); ``preexec_fn`` runs in the child before it
    starts (e.g. :func:`without_root_override`)."""
    args = [str(a) for a in args]
    proc = None if (cwd or env or preexec_fn) else _in_process(args, input)
    if proc is None:
        proc = _fresh_process(args, cwd, env, timeout, input, preexec_fn)
    if check and proc.returncode != 0:
        raise AssertionError(f"keraslab {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def _fresh_process(args, cwd, env, timeout, input, preexec_fn):
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    binary = isinstance(input, bytes)
    proc = subprocess.run(
        [sys.executable, "-m", "keraslab.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=not binary,
        timeout=timeout,
        preexec_fn=preexec_fn,
        **stdin,
    )
    if binary:
        proc.stdout = proc.stdout.decode(errors="replace")
        proc.stderr = proc.stderr.decode(errors="replace")
    return proc


def without_root_override():
    """``preexec_fn`` for a child that must obey file modes: a root process drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its capability bounding set (the child starts
    without them), so a folder without write permission refuses it as it would a normal user.
    A no-op for other users."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def default_sigint() -> None:
    """``preexec_fn`` of a child that must see Ctrl-C: a test suite started in the background
    (``make test &``, nohup) inherits SIGINT ignored, and so would the child."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


# ---- TensorBoard event files, read with TensorBoard's own reader ------------------------------
def read_scalars(folder) -> dict:
    """{tag: [(step, value)]} of the event files in ``folder`` (TensorBoard's reader)."""
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0, "images": 0})
    acc.Reload()
    out = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    for t in acc.Tags()["tensors"]:  # tf.summary (TF2) stores scalars as tensors
        values = []
        for e in acc.Tensors(t):
            proto = e.tensor_proto
            values.append((e.step, float(proto.float_val[0]) if proto.float_val
                           else float(np.frombuffer(proto.tensor_content, "float32")[0])))  # fmt: skip
        out[t] = values
    return out


def read_images(folder) -> dict:
    """{tag: [(step, (height, width))]} of the images in ``folder``'s event files."""
    import io

    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    out = {t: [(e.step, (e.height, e.width)) for e in acc.Images(t)] for t in acc.Tags()["images"]}
    for t in acc.Tags()["tensors"]:  # tf.summary.image: [width, height, png...] strings
        out[t] = [
            (e.step, Image.open(io.BytesIO(e.tensor_proto.string_val[2])).size[::-1])
            for e in acc.Tensors(t)
        ]
    return out


# ---- a tiny synthetic English->Spanish language (adjectives move after the noun) ------------
_NOUNS = {"dog": "perro", "cat": "gato", "horse": "caballo", "bird": "pájaro", "boy": "niño",
          "book": "libro", "tree": "árbol", "king": "rey"}  # fmt: skip
_ADJS = {"red": "rojo", "big": "grande", "small": "pequeño", "black": "negro", "old": "viejo"}
_VERBS = {"sees": "ve", "eats": "come", "has": "tiene", "wants": "quiere", "finds": "encuentra"}


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (english, spanish) sentence pairs of a toy grammar: "the big dog sees the cat ." ->
    "el perro grande ve el gato ." Word-for-word except that adjectives follow their noun."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def phrase():
        noun = str(rng.choice(list(_NOUNS)))
        if rng.random() < 0.5:
            adj = str(rng.choice(list(_ADJS)))
            return f"the {adj} {noun}", f"el {_NOUNS[noun]} {_ADJS[adj]}"
        return f"the {noun}", f"el {_NOUNS[noun]}"

    pairs = []
    for _ in range(n):
        (s_en, s_es), (o_en, o_es) = phrase(), phrase()
        verb = str(rng.choice(list(_VERBS)))
        pairs.append((f"{s_en} {verb} {o_en} .", f"{s_es} {_VERBS[verb]} {o_es} ."))
    return pairs


def write_pairs(path, pairs) -> Path:
    path = Path(path)
    path.write_text("".join(f"{en}\t{es}\n" for en, es in pairs), encoding="utf-8")
    return path


# ---- small texts the language tests train on ----------------------------------------------
WORDS = "the a quiet house garden letter morning sister walked read wrote saw near with".split()


def prose(n_sentences: int, seed: int) -> str:
    import numpy as np

    rng = np.random.default_rng(seed)
    sentences = [" ".join(rng.choice(WORDS, rng.integers(4, 9))).capitalize() + "." for _ in range(n_sentences)]  # fmt: skip
    return "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, n_sentences, 4)) + "\n"


def sentiment_csv(path, n=900, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    cue = {"negative": ["awful", "bad", "hate"], "neutral": ["okay", "fine", "meh"],
           "positive": ["great", "love", "good"]}  # fmt: skip
    labels = rng.choice(list(cue), n, p=[0.5, 0.35, 0.15])
    lines = ["label,tweet"]
    for lab in labels:
        words = list(rng.choice(WORDS, rng.integers(3, 7))) + [str(rng.choice(cue[lab]))]
        rng.shuffle(words)
        lines.append(f"{lab},{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
