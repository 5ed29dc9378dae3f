"""A team's template directory overrides per template; a broken template is reported at start-up with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.report_data import daily_report, standup_digest
from bot.reports.context import render_report
from bot.reports.render import (
    PACKAGED_TEMPLATES,
    TEMPLATE_NAMES,
    ReportRenderer,
    templates_dir_from_env,
)
from bot.reports.template_check import validate_templates
from tests.reports import scripted
from tests.reports.fixtures import week17_runbook

RUNBOOK = week17_runbook()


def test_the_packaged_templates_all_validate() -> None:
    assert validate_templates() == []
    assert all((PACKAGED_TEMPLATES / name).is_file() for name in TEMPLATE_NAMES)


def test_a_custom_template_overrides_only_its_own_report(tmp_path: Path) -> None:
    (tmp_path / "daily_report.md.j2").write_text("Day {{ report.day }}: {{ report.completed | length }} done\n")
    renderer = ReportRenderer(tmp_path)
    report = daily_report(RUNBOOK, 2, *scripted.common(RUNBOOK))
    assert render_report(renderer, report) == "Day 2: 3 done\n"
    standup = standup_digest(RUNBOOK, 3, "EU", *scripted.common(RUNBOOK))
    assert render_report(renderer, standup).startswith("*Week 17 Day 3 Standup (EU)*")
    assert validate_templates(tmp_path) == []


def test_a_syntax_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "standup.md.j2").write_text("*Standup*\n\n{% for x in report.agenda %}\n{{ x }\n{% endfor %}\n")
    problems = validate_templates(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'standup.md.j2'}:4: ")
    assert "Nothing was posted; fix the template and restart" in problems[0]


def test_an_undefined_name_is_reported_with_file_and_line_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "final_report.md.j2").write_text("*Final*\nok\n{{ report.no_such_field }}\n")
    problems = validate_templates(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'final_report.md.j2'}:3: ")
    assert "no_such_field" in problems[0]


def test_an_unknown_filter_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "step_card.txt.j2").write_text("{{ card.title | shout }}\n")
    problems = validate_templates(tmp_path)
    assert problems and problems[0].startswith(f"{tmp_path / 'step_card.txt.j2'}:1: ")
    assert "shout" in problems[0]


def test_a_missing_template_directory_is_reported(tmp_path: Path) -> None:
    problems = validate_templates(tmp_path / "nowhere")
    assert len(problems) == 1 and "does not exist" in problems[0]


def test_the_template_directory_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ION_TEMPLATES_DIR", str(tmp_path))
    assert templates_dir_from_env() == tmp_path
    monkeypatch.setenv("ION_TEMPLATES_DIR", "  ")
    assert templates_dir_from_env() is None


def test_a_health_check_overridden_at_the_decision_point_is_named_in_the_phase_summary() -> None:
    from datetime import UTC, datetime

    from bot.engine.report_data import phase_summary
    from bot.engine.report_model import GateDecision

    overridden = "Error rate < 0.5% (last 24h): overridden by lee: the spike was the load test"
    decided = GateDecision("gonogo.day3", "yes", "lee", datetime(2026, 11, 4, 23, tzinfo=UTC), (overridden,))
    report = phase_summary(RUNBOOK, 5, *scripted.common(RUNBOOK), [decided])
    text = render_report(ReportRenderer(None), report)
    decision = text.split("*Decision:*")[1].split("*Next:*")[0]
    assert "GO to Phase 2 (lee)" in decision
    assert (
        "  - Health check Error rate &lt; 0.5% (last 24h): overridden by lee: the spike was the load test" in decision
    )


def test_the_daily_report_names_its_own_days_go_no_go_decisions_with_the_checks_let_pass() -> None:
    from datetime import UTC, datetime

    from bot.engine.report_model import GateDecision, ReportExtras

    overridden = "Triggers backtested in the last 7 days with no red line: overridden by lee: the Monday batch job"
    preflight = GateDecision("preflight", "yes", "lee", datetime(2026, 11, 2, 15, tzinfo=UTC), (overridden,))
    day3 = GateDecision("gonogo.day3", "no", "lee", datetime(2026, 11, 4, 23, tzinfo=UTC))
    extras = ReportExtras(decisions=(preflight, day3))
    day1 = render_report(ReportRenderer(None), daily_report(RUNBOOK, 1, *scripted.common(RUNBOOK), extras=extras))
    decided = day1.split("*Go/No-Go decided today:*\n")[1].split("\n\n*Issues/Blockers:*")[0]
    assert decided.splitlines() == [
        f"- {RUNBOOK.gates[0].title}: {RUNBOOK.gates[0].yes_label} (lee)",
        f"  - Health check {overridden}",
    ]
    day2 = render_report(ReportRenderer(None), daily_report(RUNBOOK, 2, *scripted.common(RUNBOOK), extras=extras))
    assert "Go/No-Go decided today" not in day2  # no gate that day
    day3_text = render_report(ReportRenderer(None), daily_report(RUNBOOK, 3, *scripted.common(RUNBOOK), extras=extras))
    assert "PAUSE (lee)" in day3_text.split("*Go/No-Go decided today:*")[1]
