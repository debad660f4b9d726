"""The package's layout: wire → coordinators → entities → flows, read from its imports.

The modules are parsed, not imported: an import under ``TYPE_CHECKING`` counts
as much as any other, since it is a cycle the type checker and the reader have
to follow all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "custom_components" / "balupi"

# Protocol and logic modules: no Home Assistant in them, so they run and are
# tested on their own.
PURE = (
    "baluhost",
    "discovery",
    "handshake",
    "heartbeat",
    "insights",
    "nas_events",
    "nas_state",
    "payload",
    "pihole",
    "sftp",
    "sleep_watch",
    "snapshot",
    "tariff",
    "transfer",
    "validation",
    "wol",
)


def _modules(package: Path) -> dict[str, Path]:
    """Return every module of the package by dotted name ("" is the package)."""
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _package_of(name: str, path: Path) -> list[str]:
    """Return the package a module's relative imports start from."""
    parts = name.split(".") if name else []
    return parts if path.name == "__init__.py" else parts[:-1]


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Yield the package modules one module imports, under any condition."""
    base = _package_of(name, path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                start = base[: len(base) - node.level + 1]
                source = start + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("custom_components.balupi"):
                source = node.module.split(".")[2:]
            else:
                continue
            targets.append(source)
            targets.extend([*source, alias.name] for alias in node.names)
        elif isinstance(node, ast.Import):
            targets.extend(
                alias.name.split(".")[2:]
                for alias in node.names
                if alias.name.startswith("custom_components.balupi")
            )
        for target in targets:
            # Importing a submodule runs its packages first: all but the top
            # one (Home Assistant imports it before anything) and those the
            # importing module is in (they run before it anyway).
            for end in range(1, len(target) + 1):
                dotted = ".".join(target[:end])
                if dotted in modules and not name.startswith(f"{dotted}."):
                    yield dotted


def _graph(package: Path) -> dict[str, set[str]]:
    modules = _modules(package)
    return {
        name: set(_imports(name, path, modules)) - {name}
        for name, path in modules.items()
    }


def _third_party(path: Path) -> set[str]:
    """Return the top-level names of the absolute imports of a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph[name]):
            if (cycle := visit(target, [*path, name])) is not None:
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        if (cycle := visit(name, [])) is not None:
            return cycle
    return None


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_import_cycle() -> None:
    """No module imports, even for type checking only, one that imports it back."""
    assert _cycle(_graph(PACKAGE)) is None


def test_setup_never_imports_the_flows() -> None:
    """Setting up an entry needs nothing of the UI module."""
    graph = _graph(PACKAGE)
    reached = _reachable(graph, "")
    assert "config_flow" not in reached
    # The platforms are loaded with the entry: they too do without the flows.
    for platform in ("binary_sensor", "button", "sensor", "switch"):
        assert "config_flow" not in _reachable(graph, platform)


@pytest.mark.parametrize("name", PURE)
def test_pure_module_has_no_home_assistant(name: str) -> None:
    """A protocol or logic module (and what it imports) knows no Home Assistant."""
    graph = _graph(PACKAGE)
    modules = _modules(PACKAGE)
    assert name in modules
    for reached in _reachable(graph, name):
        assert "homeassistant" not in _third_party(modules[reached]), reached


def test_the_checks_see_a_cycle_and_a_flow_import(tmp_path: Path) -> None:
    """The graph is read right: a planted cycle and a flow import are found."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .sub.a import A\n")
    (package / "config_flow.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..b import B\n"
    )
    (package / "b.py").write_text("from .sub import a\nfrom . import config_flow\n")
    graph = _graph(package)
    assert graph["sub.a"] == {"b"}
    assert _cycle(graph) is not None
    assert "config_flow" in _reachable(graph, "")
