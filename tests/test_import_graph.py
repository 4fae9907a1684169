"""The modules of yolo_lib import each other without a cycle and only downwards through its layers.

Edges are what Python really runs (imports inside functions included): ``import a.b.c`` or
``from a.b.c import x`` runs ``a/__init__.py`` and ``a/b/__init__.py`` before ``a/b/c.py``, so
the importer depends on those packages as well, and on whatever their ``__init__`` imports.
The layers (:data:`LAYERS`, lowest first) are the architecture a reader should see: a module
imports its own layer or lower ones only.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from yolo_lib.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "yolo_lib"

#: The layers of yolo_lib, lowest first: module (or package) prefixes per layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("yolo_lib", "yolo_lib.settings", "yolo_lib.paths", "yolo_lib.files", "yolo_lib.task",
                    "yolo_lib.tolerances", "yolo_lib.geometry", "yolo_lib.cli")),
    ("ops/nn", ("yolo_lib.ops", "yolo_lib.nn", "yolo_lib.model", "yolo_lib.compilation")),
    ("loss/data", ("yolo_lib.loss", "yolo_lib.data", "yolo_lib.weights", "yolo_lib.postprocess")),
    ("train/evaluate/export", ("yolo_lib.train", "yolo_lib.evaluate", "yolo_lib.export")),
    ("parity/notebook helpers", ("yolo_lib.parity", "yolo_lib.notebook", "yolo_lib.demo")),
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ancestors(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages Python runs before the module."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(path: Path, modules: set[str], root: Path) -> set[str]:
    """Modules of the package that importing ``path`` runs directly: each imported module (``from
    pkg import name`` counts ``pkg.name`` when it is a module, else ``pkg``) and the packages above
    it, except the importer's own packages (they are already running when it is imported)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    own = set(ancestors(name)) | {name}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # a name inside a module -> that module
                t = t.rpartition(".")[0]
            if t:
                found.update(m for m in [*ancestors(t), t] if m in modules and m not in own)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in paths}
    return {module_name(p, root): imported_modules(p, modules, root) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str, layers=LAYERS) -> int:
    """Index of the layer whose longest prefix matches ``module`` (a prefix covers the module of
    that name and, unless it is the top package itself, everything below it); ValueError when
    none does."""
    best, index = -1, None
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if (module == p or ("." in p and module.startswith(p + "."))) and len(p) > best:
                best, index = len(p), i
    if index is None:
        raise ValueError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return index


def layer_violations(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Every edge from a module to a higher layer, as ``a (layer) -> b (layer)``."""
    out = []
    for name, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if layer_of(dep, layers) > layer_of(name, layers):
                out.append(f"{name} ({layers[layer_of(name, layers)][0]}) -> {dep} ({layers[layer_of(dep, layers)][0]})")
    return out


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_every_module_imports_only_its_own_layer_or_lower():
    graph = import_graph()
    for name in graph:
        layer_of(name)  # every module has a layer
    violations = layer_violations(graph)
    assert not violations, "\n".join(violations)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def write_package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "pkg"


def test_a_cycle_through_a_package_init_is_found(tmp_path):
    """The planted cycle closes only through ``b/__init__.py`` (``a`` imports ``b.tools``, whose
    package re-exports ``b.c``, which imports ``a``): without package edges it would pass."""
    pkg = write_package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.b.tools import helper\n",
        "b/__init__.py": "from pkg.b.c import thing\n",
        "b/tools.py": "def helper(): pass\n",
        "b/c.py": "import pkg.a\nthing = 1\n",
    })
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b", "pkg.b.tools"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.b.c", "pkg.a"]
    direct_only = {n: {d for d in deps if d != "pkg.b" or n == "pkg.b"} for n, deps in graph.items()}
    assert find_cycle(direct_only) is None  # the edge to the package __init__ is what exposes it


def test_a_layer_violation_is_found(tmp_path):
    pkg = write_package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from pkg.high.tool import g  # inside a function: still an edge\n",
        "high/__init__.py": "",
        "high/tool.py": "from pkg import low\ndef g(): pass\n",
    })
    layers = [("low", ("pkg", "pkg.low")), ("high", ("pkg.high",))]
    graph = import_graph(pkg)
    assert find_cycle(graph) == ["pkg.high.tool", "pkg.low", "pkg.high.tool"]
    assert layer_violations(graph, layers) == ["pkg.low (low) -> pkg.high (high)", "pkg.low (low) -> pkg.high.tool (high)"]
    with pytest.raises(ValueError, match="pkg.high.tool is in no layer"):
        layer_violations(graph, layers[:1])


def test_the_loss_package_is_a_leaf():
    """yolo_lib.loss depends on the geometry and the modes only, never on the model, the step or parity."""
    graph = import_graph()
    assert graph["yolo_lib.compilation"] == set()  # the package file imports nothing
    allowed = {"yolo_lib", "yolo_lib.geometry", "yolo_lib.compilation", "yolo_lib.compilation.modes"}
    for name, deps in graph.items():
        if name.startswith("yolo_lib.loss"):
            outside = {d for d in deps if not d.startswith("yolo_lib.loss")} - allowed
            assert not outside, (name, outside)


def test_the_readme_package_table_names_every_module():
    """Each top-level module and package of yolo_lib has its row in README's package table, and
    each module of a package is named (as `name`) in its package's row."""
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme[readme.index("## The package"):readme.index("### Commands")]
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines()
            if line.startswith("| `yolo_lib.")}
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",) or parts[-1] == "__main__":
            continue
        top = f"yolo_lib.{parts[0]}"
        if top not in rows:
            missing.append(top)
        elif len(parts) > 1 and parts[1] != "__init__" and f"`{parts[1]}`" not in rows[top]:
            missing.append(f"{top}.{parts[1]}")
    assert not missing, f"README's package table lacks: {sorted(set(missing))}"
