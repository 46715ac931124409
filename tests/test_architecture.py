"""The package's layers, read from its own imports: each sub-package imports only those below it, no module imports
itself back through a cycle, and no module is too long to read (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "snnconv"

#: The layers from the bottom up: a module may import from its own layer and the layers before it.
LAYERS: tuple[str, ...] = ("foundations", "datasets", "method", "adapters", "attacks", "training", "evaluation",
                           "experiment", "storage", "book", "robustness", "cli")

#: Longest module, in lines; a cohesive table of definitions may stay whole, and says why.
MAX_LINES = 450
TABLES = {"datasets/corruptions.py": "the fifteen common corruptions of Tables B6/B7, one definition each"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    """The layer of ``snnconv.<layer>...`` (``cli`` and ``__main__`` are the top; the root package is no layer)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return "cli" if parts[1] in ("cli", "__main__") else parts[1]


def _imports(path: Path) -> set[str]:
    """Every snnconv module ``path`` imports, anywhere in the file (a function's import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("snnconv.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("snnconv"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or \
                    (PACKAGE.parent / candidate.replace(".", "/")).is_dir()
                found.add(candidate if is_module else node.module)
    return {name for name in found if name != "snnconv"}  # the root only gives __version__


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_sits_in_a_known_layer():
    unknown = {module for module in _graph() if module != "snnconv" and _layer(module) not in LAYERS}
    assert not unknown, f"modules outside the layers of {LAYERS}: {sorted(unknown)}"


def test_imports_point_only_down_the_layers():
    upward = [f"{module} ({_layer(module)}) imports {target} ({_layer(target)})"
              for module, targets in _graph().items() if _layer(module) in LAYERS
              for target in targets if LAYERS.index(_layer(target)) > LAYERS.index(_layer(module))]
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state and (cycle := visit(target, path + [module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [])):
            pytest.fail("import cycle: " + " -> ".join(cycle[cycle.index(cycle[-1]):]))


def test_the_layer_check_catches_an_upward_import(tmp_path):
    # A method module that imported the book would be reported (the check above is not vacuous).
    assert LAYERS.index(_layer("snnconv.book.results")) > LAYERS.index(_layer("snnconv.method.models"))
    fake = tmp_path / "fake.py"
    fake.write_text("from snnconv.book import results\nfrom snnconv.method.models import build\n")
    assert _imports(fake) == {"snnconv.book.results", "snnconv.method.models"}


def test_no_module_is_too_long():
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert set(long) <= set(TABLES), f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{name} ({n})" for name, n in sorted(long.items()) if name not in TABLES)
