"""The package's layering: no import cycles, and each layer imports only the layers below.

The same check by hand: ``grep -rn "^from peakflow\\|^import peakflow" peakflow/core``
lists only ``peakflow.config`` and ``peakflow.core`` imports, and so on up the layers.
"""

import ast
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import peakflow

PACKAGE = Path(peakflow.__file__).parent
# a module may import its own layer and the layers listed after it
LAYERS = {
    "config": [],
    "core": ["config"],
    "runtime": ["core", "config"],
    "grid": ["runtime", "core", "config", "display"],
    "measured": ["io", "extras", "standards", "runtime", "core", "config", "display"],
    "io": ["extras", "columns", "metadata", "axes"],
    "standards": [],
    "columns": [],
    "metadata": [],
    "axes": ["columns"],
    "extras": [],
    "display": [],
    "map_io": ["io", "extras"],
}
TOP = ("cli", "cli_outputs", "plotting", "reports", "metrics", "reliability", "reference",
       "experiments", "__init__", "__main__")


@functools.cache
def imports() -> dict[str, set[str]]:
    """Module name (dotted, without ``peakflow.``) -> the peakflow modules it imports.

    Parsed in a fresh thread: CPython 3.11's AST validation compares its recursion depth with
    the thread's, and once in CI, late in the test run, the main thread's count was off
    ("SystemError: AST constructor recursion depth mismatch" on valid code)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_imports).result()


def _imports() -> dict[str, set[str]]:
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


def test_no_two_modules_share_a_file_name():
    """One name, one concept: a module's file name says which (``__init__`` aside)."""
    names: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name not in ("__init__.py", "__main__.py"):
            names.setdefault(path.name, []).append(str(path.relative_to(PACKAGE)))
    assert not {n: p for n, p in names.items() if len(p) > 1}


def test_the_top_level_namespace_holds_what_fitting_needs():
    """At most 30 names, each importable; the internals live in their layers' namespaces."""
    assert len(peakflow.__all__) <= 30
    for name in peakflow.__all__:
        assert getattr(peakflow, name) is not None
    for internal in ("rollout", "relaxed_loss", "make_train", "decode_heads", "preset"):
        assert internal not in peakflow.__all__
    assert peakflow.core.rollout and peakflow.core.make_train and peakflow.config.preset


def test_test_files_are_named_after_what_they_test():
    """Each test file ``tests/<layer>/test_<name>.py`` tests ``peakflow/<layer>/<name>.py``
    (or, at the top, a top-level module or entry point)."""
    tests = Path(__file__).parent
    extra = {"test_layers.py", "test_properties.py", "test_cli.py"}  # the package, its CLI
    for path in tests.rglob("test_*.py"):
        if path.name in extra:
            continue
        module = path.name.removeprefix("test_")
        folder = path.parent.relative_to(tests)
        assert (PACKAGE / folder / module).is_file(), f"{path.relative_to(tests)} names no module"
