"""A runbook file read as YAML nodes, so every problem can point at a line and column.

The loader resolves only ``true``/``false`` as booleans (YAML 1.2 style): in YAML 1.1
``no``, ``off`` or ``yes`` silently become booleans, which turns a label such as
``no_label: NO`` into ``False``. Pydantic still accepts ``yes``/``no`` for boolean fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.runbook.errors import Problem

_BOOL_TAG = "tag:yaml.org,2002:bool"


class RunbookYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans; everything else (17:00 as 1020 included) as YAML 1.1."""


def _with_yaml12_booleans(loader: type[Any]) -> type[Any]:
    loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return loader


_with_yaml12_booleans(RunbookYamlLoader)
# libyaml's parser, when PyYAML was built with it: the same nodes, marks and data, seven times faster.
FAST_LOADER: type[Any] | None = (
    _with_yaml12_booleans(type("FastRunbookYamlLoader", (yaml.CSafeLoader,), {}))
    if getattr(yaml, "__with_libyaml__", False)
    else None
)


@dataclass(frozen=True)
class Located:
    """Where a path into the data lands in the file; ``exact`` is False when it stopped short."""

    node: yaml.Node
    key: yaml.Node | None
    exact: bool

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    @property
    def col(self) -> int:
        return self.node.start_mark.column + 1


@dataclass(frozen=True)
class YamlSource:
    """The parsed document: plain data for pydantic plus the node tree for positions."""

    file: str
    root: yaml.Node
    data: Any

    def locate(self, loc: Sequence[str | int]) -> Located:
        """Follow a pydantic-style path; elements that name no key (union tags) are skipped."""
        node, key, exact = self.root, None, True
        for element in loc:
            child = _child(node, element)
            if child is None:
                if isinstance(element, str) and _is_field(element) and not _is_kind_tag(node, element):
                    exact = False
                continue
            key, node = child
        return Located(node=node, key=key, exact=exact)

    def problem(self, loc: Sequence[str | int], message: str, *, at_key: bool = False) -> Problem:
        where = self.locate(loc)
        node = where.key if at_key and where.key is not None and where.exact else where.node
        return Problem(self.file, node.start_mark.line + 1, node.start_mark.column + 1, message)

    def problem_in_text(self, loc: Sequence[str | int], column: int, message: str) -> Problem:
        """A problem at ``column`` (1-based) inside a one-line scalar, e.g. a condition's metric."""
        where = self.locate(loc)
        node = where.node
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if where.exact and isinstance(node, yaml.ScalarNode) and _on_one_line(node):
            quote = 1 if node.style in ("'", '"') else 0
            leading = len(node.value) - len(node.value.lstrip())
            col += quote + leading + column - 1
        return Problem(self.file, line, col, message)


def _on_one_line(node: yaml.ScalarNode) -> bool:
    """Plain or quoted on a single line: columns inside the value map 1:1 onto the file."""
    return node.style not in ("|", ">") and node.start_mark.line == node.end_mark.line


def _is_field(element: str) -> bool:
    return re.fullmatch(r"[a-z_][a-z0-9_]*", element) is not None


def _is_kind_tag(node: yaml.Node, element: str) -> bool:
    """Pydantic puts a discriminated union's tag (the action kind) into the path."""
    found = _child(node, "kind")
    return found is not None and isinstance(found[1], yaml.ScalarNode) and found[1].value == element


def _child(node: yaml.Node, element: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in reversed(node.value):  # the last duplicate wins, as in the data
            if isinstance(key, yaml.ScalarNode) and key.value == str(element):
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(element, int) and 0 <= element < len(node.value):
        return None, node.value[element]
    return None


def read_source(path: Path, shown: str) -> YamlSource | Problem:
    """Read and parse one file; any failure is one Problem with a sentence, never a traceback."""
    if not path.exists():
        return Problem(shown, 1, 1, "no such file; pass the path of a runbook YAML file or set ION_RUNBOOK")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.y*ml"))
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        return Problem(shown, 1, 1, f"this is a directory, not a runbook file; name a YAML file in it{hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Problem(shown, 1, 1, "the file is not UTF-8 text; save the runbook as UTF-8 YAML")
    except OSError as exc:
        return Problem(shown, 1, 1, f"cannot read the file: {exc.strerror or exc}")
    return parse_source(text, shown)


def parse_source(text: str, shown: str) -> YamlSource | Problem:
    """Compose and construct the YAML document, keeping the node marks. libyaml reads it first (a
    runbook is read at every start); a document it rejects is read again by the pure-Python parser,
    whose messages the problems quote."""
    if FAST_LOADER is not None:
        fast = _parse_with(FAST_LOADER, text, shown)
        if isinstance(fast, YamlSource):
            return fast
    return _parse_with(RunbookYamlLoader, text, shown)


def _parse_with(loader_class: type[Any], text: str, shown: str) -> YamlSource | Problem:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return Problem(
                shown,
                1,
                1,
                "the file is empty; a runbook needs at least id, title, calendar, "
                "environments and schedule (see docs/runbook-format.md)",
            )
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        context = f" ({exc.context})" if exc.context else ""
        started = exc.context_mark
        if exc.context and exc.context.startswith("while") and started and started.line + 1 != line:
            context = f" ({exc.context} that starts on line {started.line + 1})"
        return Problem(shown, line, col, f"invalid YAML{context}: {exc.problem}; fix the syntax here")
    except yaml.YAMLError as exc:
        return Problem(shown, 1, 1, f"invalid YAML: {exc}")
    finally:
        loader.dispose()
    if not isinstance(root, yaml.MappingNode):
        kind = "list" if isinstance(root, yaml.SequenceNode) else "single value"
        return Problem(
            shown,
            root.start_mark.line + 1,
            root.start_mark.column + 1,
            f"a runbook must be a mapping of keys (id:, title:, calendar: ...), not a {kind}",
        )
    return YamlSource(file=shown, root=root, data=data)


def duplicate_keys(source: YamlSource) -> list[Problem]:
    """Keys written twice in one mapping: YAML keeps the last silently, which hides edits."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack: list[yaml.Node] = [source.root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in node.value:
                stack.append(value)
                if not isinstance(key, yaml.ScalarNode):
                    continue
                if key.value in first:
                    earlier = first[key.value].start_mark.line + 1
                    problems.append(
                        Problem(
                            source.file,
                            key.start_mark.line + 1,
                            key.start_mark.column + 1,
                            f"duplicate key '{key.value}' (also on line {earlier}); keep one of them",
                        )
                    )
                else:
                    first[key.value] = key
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return problems
