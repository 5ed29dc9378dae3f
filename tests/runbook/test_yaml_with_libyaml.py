"""Issue 14: the runbook is read by libyaml when PyYAML has it, with exactly what the pure-Python
loader gives (data, node marks, YAML 1.2 booleans), and a file libyaml rejects is reported in the
pure-Python parser's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.runbook import source
from bot.runbook.errors import Problem
from bot.runbook.source import FAST_LOADER, RunbookYamlLoader, YamlSource, parse_source

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"
needs_libyaml = pytest.mark.skipif(FAST_LOADER is None, reason="this PyYAML was built without libyaml")


def _marks(node: yaml.Node) -> list[tuple[str, int, int, int, int]]:
    found = [(node.tag, node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)]
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found += _marks(key) + _marks(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += _marks(item)
    return found


@needs_libyaml
def test_week17_reads_the_same_with_libyaml_as_with_the_pure_python_loader() -> None:
    assert FAST_LOADER is not None
    text = WEEK17.read_text()

    fast = source._parse_with(FAST_LOADER, text, "week17.yaml")
    slow = source._parse_with(RunbookYamlLoader, text, "week17.yaml")

    assert isinstance(fast, YamlSource) and isinstance(slow, YamlSource)
    assert fast.data == slow.data
    assert _marks(fast.root) == _marks(slow.root)


@needs_libyaml
def test_libyaml_keeps_yes_and_no_as_text_and_only_true_and_false_as_booleans() -> None:
    assert FAST_LOADER is not None
    parsed = source._parse_with(FAST_LOADER, "a: NO\nb: yes\nc: true\nd: False\n", "x.yaml")

    assert isinstance(parsed, YamlSource)
    assert parsed.data == {"a": "NO", "b": "yes", "c": True, "d": False}


def test_a_file_libyaml_rejects_is_reported_in_the_pure_python_parsers_words() -> None:
    broken = "id: week17\nenvironments: [production\ntitle: x\n"

    problem = parse_source(broken, "x.yaml")

    assert problem == source._parse_with(RunbookYamlLoader, broken, "x.yaml")
    assert isinstance(problem, Problem)
    assert "expected ',' or ']', but got ':'" in problem.message  # libyaml says "did not find expected"
