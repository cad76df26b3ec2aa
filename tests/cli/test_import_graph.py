"""The packages on top of the core import in one direction, with no cycle between modules.

Every import statement counts, those inside functions included: a lazy import that closes a
loop is still a loop, merely one that shows up later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sluice

SRC = Path(sluice.__file__).parent
APPS = ("openai", "llm", "sim", "bench", "cli")
# What each package may import besides the core and itself.
ALLOWED = {
    "core": set(),
    "openai": set(),
    "llm": {"openai"},
    "sim": {"openai"},
    "bench": {"openai", "llm", "sim"},
    "cli": {"openai", "llm", "sim", "bench"},
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_name(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                origin = ".".join([*base, node.module] if node.module else base)
                for alias in node.names:  # "from . import llm" names a module
                    child = f"{origin}.{alias.name}"
                    targets.add(child if child in modules else origin)
        graph[module] = {target for target in targets if target in modules and target != module}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in APPS else "core"


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    graph = _graph()
    assert "sluice.bench._llm_target" in graph["sluice.bench._senders"]  # inside a function
    assert "sluice.llm" in graph["sluice.bench._llm_target"]  # from .. import llm
    assert "sluice.openai._types" in graph["sluice.openai._headers"]


def test_no_cycle_reaches_the_packages_above_the_core() -> None:
    cycles = [c for c in _cycles(_graph()) if any(_layer(m) != "core" for m in c)]
    assert cycles == []


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = sorted(
        (module, target)
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) not in {"core", _layer(module)} | ALLOWED[_layer(module)]
    )
    assert wrong == []
