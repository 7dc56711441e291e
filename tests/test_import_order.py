"""The package order of keraslab, and the check that every import in the source tree follows it.

Imports run down this list, never up, and no module takes part in an import cycle (imports
inside functions count too: a lazy import that runs up the layers is still a dependency). The
check reads the source as text (AST), so it runs no keraslab code.
"""

import ast
from pathlib import Path

import keraslab

SRC = Path(keraslab.__file__).parent

# Lowest first. A unit may import from its own level and the levels below it.
ORDER = (
    # the base: Keras-free helpers every package may use
    ("keraslab", "_imports", "errors", "io", "options", "presets", "scaleout"),
    ("engine",),  # phases -> train steps per backend (the only place that imports jax/tf/torch)
    ("layers",),  # reusable Keras layers
    ("data",),  # offline datasets and batch generators
    ("metrics",),  # FID/KID, classifier scores, text and asset-pricing scores
    ("runs",),  # the run folder: checkpoints, callbacks, report pages, charts
    ("models",),  # one module per model family
    ("transfer",),  # pretrained networks, adapters, LoRA
    ("augment",),  # image, text and table augmentation
    ("vision",),  # filter visualisation, saliency, style transfer
    ("recipes",),  # runnable jobs: data + model + training + metrics
    ("cli",),  # parsers generated from declarations, one dispatcher
)
LEVEL = {unit: i for i, units in enumerate(ORDER) for unit in units}


def module_name(path: Path, src: Path = SRC) -> str:
    parts = ["keraslab", *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """``keraslab.runs.report`` -> ``runs``; ``keraslab`` -> ``keraslab``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path, src: Path = SRC, known=frozenset()):
    """``(line, module)`` of every keraslab module ``path`` imports (at any depth of the code)."""
    here = module_name(path, src)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from keraslab.runs import report` imports the submodule keraslab.runs.report
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                     for a in node.names]  # fmt: skip
        else:
            continue
        for name in names:
            if name == "keraslab" or name.startswith("keraslab."):
                yield node.lineno, name


def source_modules(src: Path = SRC) -> dict[str, Path]:
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


def upward_imports(src: Path = SRC) -> list[str]:
    modules = source_modules(src)
    offenders = []
    for name, path in modules.items():
        mine = unit_of(name)
        for line, target in imports_of(path, src, frozenset(modules)):
            theirs = unit_of(target)
            if theirs not in LEVEL or mine not in LEVEL:
                offenders.append(f"{name}:{line} imports {target}: a unit missing from ORDER")
            elif LEVEL[theirs] > LEVEL[mine]:
                offenders.append(f"{name}:{line} imports {target} ({theirs} is above {mine})")
    return offenders


def import_cycles(src: Path = SRC) -> list[list[str]]:
    """Each strongly connected set of two or more modules (Tarjan), or one importing itself."""
    modules = source_modules(src)
    known = frozenset(modules)
    graph = {}
    for name, path in modules.items():
        targets = set()
        for _, target in imports_of(path, src, known):
            while target not in known and "." in target:  # `keraslab.runs.Run` -> keraslab.runs
                target = target.rpartition(".")[0]
            targets.add(target)
        graph[name] = targets - ({name} if name != "keraslab" else set())
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_every_unit_is_placed():
    units = {unit_of(name) for name in source_modules()}
    assert units <= set(LEVEL), f"add to ORDER: {sorted(units - set(LEVEL))}"


def test_no_import_runs_up_the_layers():
    offenders = upward_imports()
    assert not offenders, "imports against the package order:\n" + "\n".join(offenders)


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _tree(tmp_path, files: dict[str, str]) -> Path:
    src = tmp_path / "keraslab"
    for rel, text in {"__init__.py": "", **files}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    src = _tree(tmp_path, {
        "engine/__init__.py": "",
        "engine/model.py": "def f():\n    from keraslab.runs.folder import Run\n",
        "runs/__init__.py": "",
        "runs/folder.py": "from keraslab.runs import report\n",
        "runs/report.py": "from .folder import Run\n",
        "layers/__init__.py": "from keraslab import errors\n",
        "errors.py": "",
    })  # fmt: skip
    assert upward_imports(src) == [
        "keraslab.engine.model:2 imports keraslab.runs.folder (runs is above engine)"
    ]
    assert import_cycles(src) == [["keraslab.runs.folder", "keraslab.runs.report"]]
    (src / "runs/report.py").write_text("import json\n")
    (src / "engine/model.py").write_text("from keraslab.errors import UserError\n")
    assert upward_imports(src) == [] and import_cycles(src) == []
