"""The package's layering: no import cycles, and each layer imports only the layers below.

The same check by hand: ``grep -rn "^from peakflow\\|^import peakflow" peakflow/core``
lists only ``peakflow.config`` and ``peakflow.core`` imports, and so on up the layers.
"""

import ast
from pathlib import Path

import peakflow

PACKAGE = Path(peakflow.__file__).parent
# a module may import its own layer and the layers listed after it
LAYERS = {
    "config": [],
    "core": ["config"],
    "runtime": ["core", "config"],
    "grid": ["runtime", "core", "config"],
    "measured": ["io", "runtime", "core", "config"],
    "io": [],
    "map_io": ["io"],
}
TOP = ("cli", "plotting", "evaluation", "calibration", "reference", "experiments", "__init__",
       "__main__")


def imports() -> dict[str, set[str]]:
    """Module name (dotted, without ``peakflow.``) -> the peakflow modules it imports."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("peakflow"):
                    found.add(node.module.removeprefix("peakflow").lstrip("."))
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("peakflow").lstrip(".") for a in node.names
                          if a.name.startswith("peakflow")}
        graph[name] = found
    return graph


def resolve(target: str, graph: dict) -> str:
    """A package import (``core``) stands for its ``__init__`` module."""
    return target if target in graph else f"{target}.__init__" if target else "__init__"


def test_no_import_cycles():
    graph = imports()
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph.get(node, ()):
            nxt = resolve(nxt, graph)
            assert state.get(nxt) != 1, " -> ".join([*path, nxt])
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_layers_import_only_layers_below():
    for module, targets in imports().items():
        layer = module.split(".")[0]
        if layer in TOP:
            continue
        allowed = {layer, *LAYERS[layer]}
        for target in targets:
            assert target.split(".")[0] in allowed, f"{module} imports {target}"


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
