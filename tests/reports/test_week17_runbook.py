"""The real runbook (runbooks/week17.yaml) yields jobs and renders every report; skipped only if the file is absent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.engine.cost_ledger import build_cost_ledger
from bot.engine.report_data import daily_report, final_report, phase_summary, standup_digest
from bot.reports.context import render_report
from bot.reports.render import ReportRenderer
from bot.scheduler import build_jobs

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


@pytest.mark.skipif(not WEEK17.exists(), reason="runbooks/week17.yaml is not written yet")
def test_week17_runbook_schedules_and_renders_every_report() -> None:
    from bot.runbook.loader import load_runbook

    runbook = load_runbook(WEEK17)
    jobs = {j.job_key: j for j in build_jobs(runbook, date(2026, 10, 26))}
    assert "daily_report" in jobs and "trigger_watch" in jobs
    assert len([k for k in jobs if k.startswith("standup:")]) == len(runbook.schedule.standups)
    ledger = build_cost_ledger(runbook, [])
    renderer = ReportRenderer()
    last = runbook.calendar.working_days
    texts = [
        render_report(renderer, daily_report(runbook, 2, [], [], [], [], [], ledger)),
        render_report(renderer, standup_digest(runbook, 2, "US", [], [], [], [], [], ledger)),
        render_report(renderer, phase_summary(runbook, min(5, last), [], [], [], [], [], ledger, [])),
        render_report(renderer, final_report(runbook, last, [], [], [], [], [], ledger, [], [])),
    ]
    assert all(text.strip() for text in texts)
    assert "no data" in texts[0]  # no metric readings were given: never shown as healthy
