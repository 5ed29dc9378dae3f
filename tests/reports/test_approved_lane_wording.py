"""Issue 17 item 12: an approved lane nobody has run is not "awaiting approval (… someone to run it (approved))"."""

from __future__ import annotations

from pathlib import Path

from bot.engine.report_data import issues
from bot.engine.report_model import PendingApproval
from bot.reports.render import build_environment
from bot.runbook.loader import load_runbook

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


def _issues_text(pending: list[PendingApproval]) -> str:
    found = issues(load_runbook(WEEK17), [], [], pending, [])
    template = build_environment().from_string('{% import "_macros.md.j2" as m %}{{ m.issues(items) }}')
    return template.render(items=found)


def test_an_approved_lane_waiting_to_be_run_says_so_instead_of_awaits_approval() -> None:
    approved = PendingApproval(
        "day2.1", "Reduce Minimum Instances (US Region)", "production", "someone to run it", "lee", approved=True
    )
    text = _issues_text([approved])
    assert (
        "day2.1 Reduce Minimum Instances (US Region) is approved on production and waits for someone to run it" in text
    )
    assert "awaits approval" not in text and "(approved)" not in text


def test_a_lane_short_of_votes_still_awaits_approval_with_what_it_needs() -> None:
    waiting = PendingApproval("day2.3", "Implement Predictive Scaling", "production", "lead", "Bob")
    assert "day2.3 Implement Predictive Scaling awaits approval (production, needs lead)" in _issues_text([waiting])
