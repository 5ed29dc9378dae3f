"""The daily report's chart is drawn in the chart process; when that process dies mid-chart the report
still posts, saying the chart could not be attached, and the next day's chart is drawn by a new one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.reports.chart_worker import ChartWorker
from tests.reports.chart_fakes import KilledWhileDrawing
from tests.runtime.harness import MONDAY, Team, chicago, team_at, utc

DAY1_REPORT = "daily_report:"


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    async with team_at(tmp_path / "ion.db", 7, timedelta(minutes=30), started=True) as team:
        yield team


async def test_a_chart_process_killed_while_drawing_leaves_the_report_posted_without_its_chart(team: Team) -> None:
    dying = KilledWhileDrawing()
    team.runtime.jobs.publisher.charts = dying
    try:
        await team.runtime.run_due(utc(chicago(MONDAY, 18)))
    finally:
        dying.shutdown()
    [report] = team.poster.keyed(DAY1_REPORT)
    assert "the metrics chart could not be attached: ChartWorkerDied: the chart process stopped" in report.text
    assert "Week 17 Day 1 Report" in report.text
    assert team.poster.uploads == []


async def test_the_days_chart_comes_from_the_chart_process_and_is_uploaded(team: Team) -> None:
    charts = ChartWorker()
    team.runtime.jobs.publisher.charts = charts
    try:
        await team.runtime.run_due(utc(chicago(MONDAY, 18)))
    finally:
        charts.shutdown()
    [upload] = team.poster.uploads
    assert upload.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "Metrics chart: " in team.poster.keyed(DAY1_REPORT)[0].text
