"""The report fields of a runbook's schedule and targets (issue 16): defaults, and a wrong role named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runbook.errors import RunbookError
from bot.runbook.loader import load_runbook

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


def test_week17_says_the_guides_percent_and_date_and_who_attends() -> None:
    runbook = load_runbook(WEEK17)
    assert (runbook.targets.savings_pct, runbook.targets.overall_by) == (16, "Week 18")
    schedule = runbook.schedule
    assert schedule.standup_attendees == ["manager", "lead", "sre_oncall", "member"]
    assert (schedule.standup_posts, schedule.scaling_posts) == ("per_zone", "daily")
    assert schedule.report_email_to == ["ion-team@example.com"]


def test_an_unknown_attendee_role_is_refused_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    text = WEEK17.read_text(encoding="utf-8").replace(
        "standup_attendees: [manager, lead, sre_oncall, member]", "standup_attendees: [manager, leed]"
    )
    path = tmp_path / "week17.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "standup_attendees" in row)
    with pytest.raises(RunbookError, match=rf"week17.yaml:{line}:\d+: unknown role 'leed'; did you mean lead\?"):
        load_runbook(path)
