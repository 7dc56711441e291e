"""Only keraslab.engine may import jax, tensorflow or torch (AST check over the source tree)."""

import ast
from pathlib import Path

import keraslab

BACKENDS = {"jax", "jaxlib", "tensorflow", "tf", "torch"}
SRC = Path(keraslab.__file__).parent
# The one stated exception: the FID InceptionV3 is a TorchScript network (not Keras backend code);
# it imports torch lazily, inside functions, and only when the Inception extractor is used.
ALLOWED_OUTSIDE_ENGINE = {"metrics/inception.py"}


def backend_imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in BACKENDS:
                yield node.lineno, name


def test_backend_imports_only_in_engine():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("engine/") or rel in ALLOWED_OUTSIDE_ENGINE:
            continue
        offenders += [f"{rel}:{line} imports {name}" for line, name in backend_imports(path)]
    assert not offenders, "backend imports outside keraslab/engine:\n" + "\n".join(offenders)


def test_the_check_catches_an_import(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f():\n    import torch.nn as nn\n    from jax import numpy\n")
    assert [n for _, n in backend_imports(p)] == ["torch.nn", "jax"]


def test_inception_imports_torch_only_inside_functions():
    tree = ast.parse((SRC / "metrics/inception.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in top:
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        assert not any(m.split(".")[0] in BACKENDS for m in mods)
