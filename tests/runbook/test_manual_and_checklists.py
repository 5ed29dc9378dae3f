"""`ionbot check` on the manual-action and checklist fields: who presses Done, the value and its
condition, and lists with a lane and a moment; each defect at its exact file:line:col."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.runbook.loader import check_paths

from .conftest import MINI

SCALE = "          - kind: cloud_run.scale\n"
APPROVALS = "        approvals:"


def manual(fields: str) -> list[tuple[str, str]]:
    return [(SCALE, "          - {kind: manual, instruction: Run it, " + fields + "}\n" + SCALE)]


def lists(yaml: str) -> list[tuple[str, str]]:
    return [(APPROVALS, yaml + APPROVALS)]


DEFECTS: list[tuple[str, list[tuple[str, str]], str]] = [
    ("a role nobody has", manual("id: bench, by: tester"), "27:64: unknown role 'tester'; known: lead"),
    (
        "a condition without a value to check",
        manual("accept: hit_pct > 65"),
        "27:13: manual: a manual action's 'accept' needs a 'value' to check (name and unit)",
    ),
    (
        "a condition on another name than the value's",
        manual("value: {name: hit_pct, unit: '%'}, accept: miss_pct > 65"),
        "27:13: manual: 'accept' must compare the value 'hit_pct', not 'miss_pct'",
    ),
    (
        "a unit the bot cannot read",
        manual("value: {name: hit_pct, unit: percent}"),
        "27:78: unit should be '%', 'ms', 's', 'min', 'h', 'B', 'KB', 'MB', 'GB', 'KiB', 'MiB', 'GiB', "
        "'count', 'rps' or 'link' (found 'percent')",
    ),
    (
        "a metric the catalogue does not have",
        manual("value: {name: hit_pct, unit: '%', metric: hit_rate}"),
        "27:91: unknown metric 'hit_rate'; known: error_rate_pct",
    ),
    (
        "'for' without the moment it counts from",
        lists("        checklists:\n          - {title: Later, for: 30m, items: [{id: a, text: A}]}\n"),
        "34:13: 'for' counts from a moment: add 'after: ENVIRONMENT' (e.g. after: production)",
    ),
    (
        "a lane the step does not run in",
        lists(
            "        checklists:\n"
            "          - {title: Later, lane: staging, after: production, items: [{id: a, text: A}]}\n"
        ),
        "34:34: unknown lane of day1.1 'staging'; known: step, production",
    ),
    (
        "one item id in two lists",
        lists(
            "        checklist: [{id: a, text: A}]\n        checklists:\n"
            "          - {title: Later, after: production, items: [{id: a, text: A again}]}\n"
        ),
        "35:60: duplicate checklist item id 'a'; each checklist item id must be unique (first on line 33)",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [(e, x) for _, e, x in DEFECTS], ids=[d[0] for d in DEFECTS])
def test_each_defect_is_reported_at_its_exact_position(
    write_runbook: Callable[[str], Path], edits: list[tuple[str, str]], expected: str
) -> None:
    text = MINI
    for old, new in edits:
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = write_runbook(text)
    assert [str(p) for p in check_paths([path])] == [f"{path}:{expected}"]


def test_a_manual_action_with_a_role_a_value_and_its_condition_and_a_timed_list_are_valid(
    write_runbook: Callable[[str], Path],
) -> None:
    text = MINI.replace(
        SCALE,
        "          - {kind: manual, id: bench, instruction: Run it, by: lead, "
        "value: {name: hit_pct, unit: '%'}, accept: hit_pct > 65}\n" + SCALE,
    )
    text = text.replace(
        APPROVALS,
        "        checklists:\n          - {title: Later, lane: production, after: production, for: 30m, "
        "items: [{id: a, text: A}]}\n" + APPROVALS,
    )
    assert check_paths([write_runbook(text)]) == []
