"""The layers hold: adapters see only the engine's use cases, the engine no framework, and no
module imports itself in a circle. Imports are read with ``ast`` from the source, every one of
them: at the top, inside functions (a lazy import still ties two modules) and under
TYPE_CHECKING (a type-only import of the store is still a dependency on it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bot"
FRAMEWORKS = ("slack_bolt", "slack_sdk", "sqlalchemy", "aiohttp", "google", "apscheduler", "alembic", "aiosmtplib")
ADAPTERS = ("bot.slack", "bot.console")
OFF_LIMITS_TO_ADAPTERS = ("bot.bootstrap", "bot.store", "bot.sim")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted and absolute
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(path: Path, module: str | None = None) -> Iterator[Import]:
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            for inner in node.body:
                type_only_nodes.update(id(n) for n in ast.walk(inner))
    for node in ast.walk(tree):
        type_only = id(node) in type_only_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(module, base, node.lineno, type_only)
            for alias in node.names:  # ``from bot.slack import app`` imports the module bot.slack.app
                candidate = f"{base}.{alias.name}"
                if _is_module(candidate):
                    yield Import(module, candidate, node.lineno, type_only)


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def all_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in _imports_of(path)]


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _off_limits_to_adapters(target: str) -> bool:
    """The store, the sim, and the composition root with its companion modules (bot.bootstrap_console,
    bot.bootstrap_cloud, bot.bootstrap_oncall): ``_under`` alone would let ``bot.bootstrap_x`` through."""
    return _under(target, OFF_LIMITS_TO_ADAPTERS) or target.startswith("bot.bootstrap_")


def _adapter_reaches() -> set[tuple[str, str]]:
    return {
        (i.module, i.target) for i in all_imports() if _under(i.module, ADAPTERS) and _off_limits_to_adapters(i.target)
    }


def test_nothing_under_slack_imports_bootstrap_the_store_or_the_sim() -> None:
    assert sorted(r for r in _adapter_reaches() if _under(r[0], ("bot.slack",))) == []


def test_nothing_under_the_console_imports_bootstrap_the_store_or_the_sim() -> None:
    """The console gets its world from bot/bootstrap_console.py through bot/console/ports.py."""
    assert sorted(r for r in _adapter_reaches() if _under(r[0], ("bot.console",))) == []


def test_the_off_limits_check_sees_the_composition_roots_companions_and_lazy_and_type_only_imports(
    tmp_path: Path,
) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from bot.sim.slack_api import Call\n"
        "def later() -> None:\n    from bot.bootstrap_console import ConsoleSession\n"
    )
    found = {i.target for i in _imports_of(source, module="bot.console.sample") if _off_limits_to_adapters(i.target)}
    assert found == {"bot.sim.slack_api", "bot.bootstrap_console"}


def test_the_engine_imports_no_framework() -> None:
    found = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in all_imports()
        if _under(i.module, ("bot.engine",)) and _under(i.target, FRAMEWORKS)
    ]
    assert found == []


def test_the_engine_imports_no_adapter_and_no_composition_root() -> None:
    outward = ("bot.slack", "bot.console", "bot.store", "bot.sim", "bot.bootstrap", "bot.reports", "bot.cloud")
    found = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in all_imports()
        if _under(i.module, ("bot.engine",)) and _under(i.target, outward)
    ]
    assert found == []


def _graph(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules it imports when it runs (function-level imports too; type-only ones not)."""
    graph: dict[str, set[str]] = {}
    for found in all_imports():
        if found.type_only or not _under(found.module, prefixes) or not _under(found.target, prefixes):
            continue
        if found.target != found.module and _is_module(found.target):
            graph.setdefault(found.module, set()).add(found.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _package_edge(found: Import) -> bool:
    """``bot.slack.listeners`` (a package) importing its own submodule is how packages work, not a cycle."""
    return found.target.startswith(found.module + ".")


def test_no_module_of_the_bot_imports_itself_in_a_circle() -> None:
    graph = _graph(("bot",))
    for found in all_imports():
        if _package_edge(found) and found.module in graph:
            graph[found.module].discard(found.target)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_it_is_shown() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
GENERATED = ("bot/store/migrations/versions/",)  # Alembic revisions: a schema step reads best whole


def _sources() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if not str(p.relative_to(ROOT)).startswith(GENERATED)]


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = length
    assert long == {}
