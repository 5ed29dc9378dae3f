"""Load a runbook file into a validated Runbook, or say every problem as file:line:col.

Checking runs in two passes: structure (YAML, types, fields; all reported at once), then,
when the structure is sound, cross-references (ids, metrics, roles, days, environments).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from bot.runbook.checks import Finding, cross_reference_findings
from bot.runbook.errors import Problem, RunbookError
from bot.runbook.messages import validation_problems
from bot.runbook.models import Runbook
from bot.runbook.source import YamlSource, duplicate_keys, parse_source, read_source

DEFAULT_RUNBOOK = Path("runbooks") / "week17.yaml"


def default_runbook_path() -> Path:
    """``$ION_RUNBOOK`` when set, else ./runbooks/week17.yaml."""
    configured = os.environ.get("ION_RUNBOOK", "").strip()
    return Path(configured) if configured else DEFAULT_RUNBOOK


def load_runbook(path: str | Path) -> Runbook:
    """The validated runbook; raises RunbookError carrying every problem found."""
    runbook, problems = inspect_runbook(path)
    if problems or runbook is None:
        raise RunbookError(problems)
    return runbook


def load_runbook_text(text: str, name: str = "<text>") -> Runbook:
    """Same as load_runbook for YAML already in memory (tests, uploads)."""
    source = parse_source(text, name)
    runbook, problems = _validate(source) if isinstance(source, YamlSource) else (None, [source])
    if problems or runbook is None:
        raise RunbookError(problems)
    return runbook


def check_paths(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem of every file, in file order then position order."""
    problems: list[Problem] = []
    for path in paths:
        problems.extend(inspect_runbook(path)[1])
    return problems


def inspect_runbook(path: str | Path) -> tuple[Runbook | None, list[Problem]]:
    """The runbook (None when it does not validate) and its problems."""
    source = read_source(Path(path), str(path))
    if isinstance(source, Problem):
        return None, [source]
    return _validate(source)


def _validate(source: YamlSource) -> tuple[Runbook | None, list[Problem]]:
    problems = duplicate_keys(source)
    try:
        runbook = Runbook.model_validate(source.data)
    except ValidationError as exc:
        return None, _sorted(problems + validation_problems(source, exc))
    problems += [_locate(source, finding) for finding in cross_reference_findings(runbook)]
    return (None if problems else runbook), _sorted(problems)


def _locate(source: YamlSource, finding: Finding) -> Problem:
    message = finding.message
    if finding.first is not None:
        message += f" (first on line {source.locate(finding.first).line})"
    if finding.column is not None:
        return source.problem_in_text(finding.loc, finding.column, message)
    return source.problem(finding.loc, message)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line, p.col))
