"""The tree imports the way docs/architecture.md draws it: no cycle between any two modules,
the packages on top of the core in one direction, and inside the core the kernel knowing
nothing of the stages, the stores or the fan-out that are handed to it.

Every import statement counts, those inside functions included: a lazy import that closes a
loop is still a loop, merely one that shows up later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sluice

SRC = Path(sluice.__file__).parent
APPS = ("openai", "llm", "sim", "bench", "batch", "cli")
# What each package may import besides the core and itself.
ALLOWED = {
    "core": set(),
    "openai": set(),
    "llm": {"openai"},
    "sim": {"openai"},
    "bench": {"openai", "llm", "sim"},
    "batch": {"openai", "llm"},
    "cli": {"openai", "llm", "sim", "bench", "batch"},
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


def test_no_cycle_anywhere() -> None:
    assert _cycles(_graph()) == []


def _package(module: str) -> str:
    """``sluice._core.kernel`` -> ``_core``; a top-level module is its own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


# Inside the core: what each package must never import. The kernel is handed its stages,
# its state and its fan-out helper's counterpart; the stages and the executors stand alone.
FORBIDDEN = {
    "_core": {"_stages", "stores", "_fanout", "_assembly", "_gate", "testing", *APPS},
    "_stages": {"stores", "_fanout", "_cache", "_executors", "_assembly", "_gate", *APPS},
    "_executors": {"_core", "_stages", "stores", "_fanout", "_cache", "policies", "_gate"},
    "_fanout": {"_stages", "stores", "_cache", "_executors", "_assembly", "_gate", *APPS},
    "policies": {"_stages", "_fanout", "_cache", "_executors", "_assembly", "_gate", *APPS},
}


def test_the_kernel_does_not_know_what_it_is_handed() -> None:
    wrong = sorted(
        (module, target)
        for module, targets in _graph().items()
        for target in targets
        if _package(target) in FORBIDDEN.get(_package(module), set())
    )
    assert wrong == []


def test_the_policies_reach_the_kernel_only_for_the_deadline() -> None:
    graph = _graph()
    reached = {
        target
        for module, targets in graph.items()
        if _package(module) == "policies"
        for target in targets
        if _package(target) == "_core"
    }
    assert reached <= {"sluice._core.deadline"}


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = sorted(
        (module, target)
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) not in {"core", _layer(module)} | ALLOWED[_layer(module)]
    )
    assert wrong == []
