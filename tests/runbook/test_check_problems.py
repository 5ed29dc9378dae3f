"""`check_paths` on broken runbooks: one defect each, every problem as exact file:line:col: message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.runbook.errors import RunbookError
from bot.runbook.loader import check_paths, load_runbook, load_runbook_text

from .conftest import MINI

Edit = tuple[str, str]

DURATION_HINT = "write e.g. 5m, 30m, 24h or 1h30m"
CLOCK_HINT = "write HH:MM in 24-hour form, e.g. 17:00"
# Lines of MINI that the edits below insert next to.
APPROVALS = "        approvals:"
LAST_APPROVAL = "          - {role: lead}\n"
BASE_URL = "    base_url: https://api.example.dev\n"
SCALE_ACTION = "          - kind: cloud_run.scale\n"
DAILY_REPORT = '  daily_report_at: "17:00"\n'
COST_TARGETS = "targets:\n  cost:\n    - {service: Cloud Run, current_usd: 10, target_usd: 8}\n"

DEFECTS: list[tuple[str, list[Edit], list[str]]] = [
    (
        "invalid yaml",
        [('window: {start: "09:00", end: "10:00"}', 'window: {start: "09:00", end: "10:00"')],
        [
            "26:9: invalid YAML (while parsing a flow mapping that starts on line 25): "
            "expected ',' or '}', but got '<scalar>'; fix the syntax here"
        ],
    ),
    (
        "wrong type",
        [("working_days: 2", "working_days: ten")],
        ["4:17: working_days should be a valid integer, unable to parse string as an integer (found 'ten')"],
    ),
    (
        "number where text belongs",
        [("title: Scale", "title: 17:00")],
        ["24:16: title should be text (found 17:00, which YAML reads as a number; put it in quotes: '17:00')"],
    ),
    (
        "a word where a list belongs",
        [("regions: [us-central1]\n            min", "regions: us-central1\n            min")],
        ["29:22: regions should be a list or be 'all' (found 'us-central1')"],
    ),
    (
        "a number where an environment variable's text belongs",
        [("kind: cloud_run.scale", "kind: cloud_run.env"), ("min_instances: 2", "set: {CACHE_TTL: 45}")],
        ["30:30: CACHE_TTL should be text (found 45, which YAML reads as a number; put it in quotes: '45')"],
    ),
    (
        "unknown action kind with a suggestion",
        [("kind: cloud_run.scale", "kind: cloud_run.scal")],
        ["27:19: unknown action kind 'cloud_run.scal'; did you mean cloud_run.scale?"],
    ),
    (
        "unknown field with a suggestion",
        [("min_instances: 2", "min_instance: 2")],
        ["30:13: unknown field 'min_instance'; did you mean min_instances?"],
    ),
    (
        "missing required field",
        [("    title: Errors\n", "")],
        ["36:5: missing required field 'title'"],
    ),
    (
        "unknown metric in a condition, at its column",
        [("- error_rate_pct < 0.5 over 30m", "- eror_rate_pct < 0.5 over 30m")],
        ["32:13: unknown metric 'eror_rate_pct'; did you mean error_rate_pct?"],
    ),
    (
        "unknown metric in a step's recheck, at its column",
        [(APPROVALS, f"        recheck: [eror_rate_pct < 0.5]\n{APPROVALS}")],
        ["33:19: unknown metric 'eror_rate_pct'; did you mean error_rate_pct?"],
    ),
    (
        "unknown metric in a quoted condition, after the quote",
        [("- error_rate_pct < 0.5 over 30m", "- ' latency_ms < 0.5 over 30m'")],
        ["32:15: unknown metric 'latency_ms'"],
    ),
    (
        "condition syntax error inside the line",
        [("condition: error_rate_pct > 1 for 5m", "condition: error_rate_pct > 1 fro 5m")],
        ["38:35: bad condition: expected 'for' or 'over', found 'fro'"],
    ),
    (
        "bad duration",
        [("auto_rollback_after: 5m", "auto_rollback_after: 5x")],
        ["39:26: auto_rollback_after: not a duration: '5x'; write e.g. 5m, 30m, 24h or 1h30m"],
    ),
    (
        "bad time",
        [('daily_report_at: "17:00"', 'daily_report_at: "25:00"')],
        ["41:20: daily_report_at: not a time of day: '25:00'; write HH:MM in 24-hour form, e.g. 17:00"],
    ),
    (
        "duplicate step id",
        [
            (
                "          - {role: lead}\n",
                "          - {role: lead}\n      - id: day1.1\n        title: Again\n",
            )
        ],
        ["35:13: duplicate step id 'day1.1'; each step id must be unique (first on line 23)"],
    ),
    (
        "duplicate YAML key",
        [("title: Errors", "title: Errors\n    title: Errs")],
        ["38:5: duplicate key 'title' (also on line 37); keep one of them"],
    ),
    (
        "step under the wrong day",
        [("- id: day1.1", "- id: day2.1")],
        ["23:13: step day2.1 is listed under day 1; move it to day 2 or rename it day1.N"],
    ),
    (
        "unknown role",
        [("{role: lead}", "{role: leed}")],
        ["34:20: unknown role 'leed'; did you mean lead?"],
    ),
    (
        "unknown depends_on",
        [("        approvals:", "        depends_on: [day1.9]\n        approvals:")],
        ["33:22: unknown step or gate 'day1.9'; did you mean day1.1?"],
    ),
    (
        "day beyond the calendar",
        [("- number: 1", "- number: 3"), ("- id: day1.1", "- id: day3.1")],
        ["20:13: day 3 is outside the calendar's 2 working days; renumber it or raise calendar.working_days"],
    ),
    (
        "unknown environment",
        [("        approvals:", "        environments: [prod]\n        approvals:")],
        ["33:24: unknown environment 'prod'; did you mean production?"],
    ),
    (
        "unknown region",
        [("regions: [us-central1]\n            min", "regions: [us-central2]\n            min")],
        ["29:23: region 'us-central2' is not one of api's regions (us-central1); did you mean us-central1?"],
    ),
    (
        "window that ends before it starts",
        [('end: "10:00"', 'end: "08:00"')],
        ["25:39: the window must end after it starts"],
    ),
    (
        "condition window too long for any clock",
        [("condition: error_rate_pct > 1 for 5m", "condition: error_rate_pct > 1 for 99999999999999999d")],
        [f"38:39: bad condition: duration '99999999999999999d' is longer than 366d; {DURATION_HINT}"],
    ),
    (
        "condition threshold with so many digits it reads as infinity",
        [("condition: error_rate_pct > 1 for 5m", f"condition: error_rate_pct > {'9' * 400} for 5m")],
        ["38:33: bad condition: the number 99999999...9999 (400 digits) is too large for a threshold"],
    ),
    (
        "infinite duration",
        [(DAILY_REPORT, f"{DAILY_REPORT}  watch_interval: .inf\n")],
        [f"42:19: watch_interval: a duration must be a positive length of time; {DURATION_HINT} (found .inf)"],
    ),
    (
        "duration in seconds too large for any clock",
        [("auto_rollback_after: 5m", "auto_rollback_after: 99999999999999999999")],
        [
            "39:26: auto_rollback_after: a duration must be at most 366d; a bare number counts seconds; "
            f"{DURATION_HINT} (found 99999999999999999999)"
        ],
    ),
    (
        "negative duration in seconds",
        [("auto_rollback_after: 5m", "auto_rollback_after: -1800")],
        [f"39:26: auto_rollback_after: a duration must be a positive length of time; {DURATION_HINT} (found -1800)"],
    ),
    (
        "zero-length wait",
        [(SCALE_ACTION, f"          - {{kind: wait, duration: 0}}\n{SCALE_ACTION}")],
        [f"27:36: duration: a duration must be a positive length of time; {DURATION_HINT} (found 0)"],
    ),
    (
        "clock time as a number too large for a clock",
        [('daily_report_at: "17:00"', "daily_report_at: 99999999999999999999")],
        [f"41:20: daily_report_at: not a time of day; {CLOCK_HINT} (found 99999999999999999999)"],
    ),
    (
        "unquoted clock time past midnight",
        [('daily_report_at: "17:00"', "daily_report_at: 25:00")],
        [f"41:20: daily_report_at: not a time of day; {CLOCK_HINT} (found 25:00)"],
    ),
    (
        "missing and unknown fields, each on its own line",
        [("    title: Errors\n", "    titel: Errors\n"), ("    condition: error_rate_pct > 1 for 5m\n", "")],
        [
            "36:5: missing required field 'title'",
            "36:5: missing required field 'condition'",
            "37:5: unknown field 'titel'; did you mean title?",
        ],
    ),
    (
        "steps that depend on each other",
        [
            (APPROVALS, f"        depends_on: [day1.2]\n{APPROVALS}"),
            (LAST_APPROVAL, f"{LAST_APPROVAL}      - id: day1.2\n        title: Two\n        depends_on: [day1.1]\n"),
        ],
        [
            "33:22: depends_on makes a cycle: day1.1 → day1.2 → day1.1; none of these steps could ever run, "
            "so remove one of the dependencies"
        ],
    ),
    (
        "staging first in a runbook without a staging environment",
        [(BASE_URL, f"{BASE_URL}    production: true\n"), (APPROVALS, f"        staging_first: true\n{APPROVALS}")],
        [
            "34:24: staging_first is set, but the runbook has no staging environment (one without production: true) "
            "for step day1.1 to run in first; add one to environments and to the step, or remove staging_first"
        ],
    ),
    (
        "staging first on a step that never runs in staging",
        [
            (BASE_URL, f"{BASE_URL}    production: true\n  - {{name: staging, project: s}}\n"),
            (APPROVALS, f"        staging_first: true\n{APPROVALS}"),
        ],
        [
            "35:24: staging_first is set, but step day1.1 runs only in production; "
            "add staging to its environments, or remove staging_first"
        ],
    ),
    (
        "staging first where no environment is marked production",
        [(APPROVALS, f"        staging_first: true\n{APPROVALS}")],
        [
            "33:24: staging_first only holds back a production run, but none of step day1.1's environments "
            "(production) is marked production: true; mark the production environment or remove staging_first"
        ],
    ),
    (
        "cost impact on a service without a cost target",
        [
            (APPROVALS, f"        cost_impact: {{service: Cloud SQL, monthly_usd: -1}}\n{APPROVALS}"),
            (DAILY_REPORT, f"{DAILY_REPORT}{COST_TARGETS}"),
        ],
        [
            "33:32: cost_impact names 'Cloud SQL', which has no cost target (targets.cost lists Cloud Run); "
            "name one of those or add Cloud SQL to targets.cost"
        ],
    ),
]


def _edited(edits: list[Edit]) -> str:
    text = MINI
    for old, new in edits:
        assert text.count(old) == 1, f"edit target {old!r} must occur exactly once"
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize(("edits", "expected"), [(e, x) for _, e, x in DEFECTS], ids=[d[0] for d in DEFECTS])
def test_each_defect_is_reported_at_its_exact_position(
    write_runbook: Callable[[str], Path], edits: list[Edit], expected: list[str]
) -> None:
    path = write_runbook(_edited(edits))
    assert [str(p) for p in check_paths([path])] == [f"{path}:{line}" for line in expected]


def test_the_unedited_mini_runbook_is_valid(write_runbook: Callable[[str], Path]) -> None:
    assert check_paths([write_runbook(MINI)]) == []


def test_an_empty_file_is_one_clear_line(write_runbook: Callable[[str], Path]) -> None:
    path = write_runbook("# only a comment\n")
    assert [str(p) for p in check_paths([path])] == [
        f"{path}:1:1: the file is empty; a runbook needs at least id, title, calendar, environments "
        "and schedule (see docs/runbook-format.md)"
    ]


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert [str(p) for p in check_paths([path])] == [
        f"{path}:1:1: no such file; pass the path of a runbook YAML file or set ION_RUNBOOK"
    ]


def test_a_directory_is_one_clear_line_naming_what_it_holds(write_runbook: Callable[[str], Path]) -> None:
    path = write_runbook(MINI)
    assert [str(p) for p in check_paths([path.parent])] == [
        f"{path.parent}:1:1: this is a directory, not a runbook file; name a YAML file in it (it holds rb.yaml)"
    ]


def test_a_list_at_the_top_is_refused(write_runbook: Callable[[str], Path]) -> None:
    path = write_runbook("- id: x\n")
    assert [str(p) for p in check_paths([path])] == [
        f"{path}:1:1: a runbook must be a mapping of keys (id:, title:, calendar: ...), not a list"
    ]


def test_every_problem_is_reported_not_just_the_first(write_runbook: Callable[[str], Path]) -> None:
    path = write_runbook(_edited([("{role: lead}", "{role: leed}"), ("- id: day1.1", "- id: day2.1")]))
    assert [(p.line, p.col) for p in check_paths([path])] == [(23, 13), (34, 20)]


def test_load_runbook_raises_with_all_problems(write_runbook: Callable[[str], Path]) -> None:
    path = write_runbook(_edited([("{role: lead}", "{role: leed}")]))
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    assert [p.message for p in caught.value.problems] == ["unknown role 'leed'; did you mean lead?"]


def test_yes_and_no_stay_text_while_true_and_false_are_booleans() -> None:
    text = MINI.replace("title: Mini", "title: no").replace("base_url:", "production: true\n    base_url:")
    runbook = load_runbook_text(text)
    assert runbook.title == "no"
    assert runbook.environments[0].production is True


def test_a_cost_impact_matches_its_target_however_the_service_is_spelled() -> None:
    text = _edited(
        [
            (APPROVALS, f"        cost_impact: {{service: cloud-run, monthly_usd: -1}}\n{APPROVALS}"),
            (DAILY_REPORT, f"{DAILY_REPORT}{COST_TARGETS}"),
        ]
    )
    step = load_runbook_text(text).step("day1.1")
    assert step is not None and step.cost_impact is not None


def test_a_ring_of_three_steps_is_one_problem_at_its_first_step(write_runbook: Callable[[str], Path]) -> None:
    two_more = (
        "      - id: day1.2\n        title: Two\n        depends_on: [day1.3]\n"
        "      - id: day1.3\n        title: Three\n        depends_on: [day1.1]\n"
    )
    path = write_runbook(
        _edited([(APPROVALS, f"        depends_on: [day1.2]\n{APPROVALS}"), (LAST_APPROVAL, LAST_APPROVAL + two_more)])
    )
    assert [p.message for p in check_paths([path])] == [
        "depends_on makes a cycle: day1.1 → day1.2 → day1.3 → day1.1; none of these steps could ever run, "
        "so remove one of the dependencies"
    ]


def test_unquoted_clock_times_are_read_as_times() -> None:
    runbook = load_runbook_text(MINI.replace('"17:00"', "17:00").replace('"09:00"', "9:00"))
    assert runbook.schedule.daily_report_at.strftime("%H:%M") == "17:00"
    step = runbook.step("day1.1")
    assert step is not None and step.window is not None
    assert step.window.start.strftime("%H:%M") == "09:00"


def test_a_gate_label_longer_than_a_slack_button_allows_is_reported(write_runbook: Callable[[str], Path]) -> None:
    week17 = (Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml").read_text(encoding="utf-8")
    long = "YES - Proceed with Week 17 implementation, every phase and every region " + "x" * 10
    path = write_runbook(week17.replace("yes_label: YES - Proceed with Week 17 implementation", f"yes_label: {long}"))
    problems = [str(p) for p in check_paths([path])]
    assert len(problems) == 1 and "yes_label" in problems[0] and "75 characters" in problems[0], problems
