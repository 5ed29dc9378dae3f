"""`/ion report DAY` for a past day says what that day's 5 PM report said, not what is true now:
metrics read up to 17:00 that day, the cost ledger and bills as realised by then, the alerts, approvals
and checklists as they stood then. Today's report before 17:00 says "so far"; a future day is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.engine.errors import Refused
from bot.engine.ports import Point, Series
from bot.engine.records import StepState
from bot.runbook.models import Environment, Metric
from tests.runtime.harness import (
    CHANNEL,
    MONDAY,
    Team,
    chicago,
    finish,
    lee,
    runner_and_voters,
    sam,
    start_lane,
    team_at,
    tick_all,
    utc,
)

TUESDAY = MONDAY + timedelta(days=1)  # Day 2
WEDNESDAY = MONDAY + timedelta(days=2)  # Day 3
THURSDAY = MONDAY + timedelta(days=3)  # Day 4
FRIDAY = MONDAY + timedelta(days=4)  # Day 5
NEXT_MONDAY = MONDAY + timedelta(days=7)  # Day 6
DAY2_REPORT_TIME = utc(chicago(TUESDAY, 17))


@dataclass
class ChangingLatency:
    """A fake MetricsSource whose P95 was 30ms until Day 2's report time and 44ms after; it keeps
    every window it was asked for."""

    windows: list[tuple[str, datetime, datetime]] = field(default_factory=list)

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        self.windows.append((metric.id, start, end))
        if metric.id != "p95_latency_ms":
            return Series(metric.id, ())
        points, at = [], start
        while at <= end:
            points.append(Point(at, 30.0 if at <= DAY2_REPORT_TIME else 44.0))
            at += timedelta(minutes=1)
        return Series(metric.id, tuple(points))


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    async with team_at(tmp_path / "ion.db", 9, timedelta(minutes=30), metrics=ChangingLatency()) as team:
        yield team


def latency(team: Team) -> ChangingLatency:
    """The metrics the reports read in this module."""
    assert isinstance(team.bot.metrics, ChangingLatency)
    return team.bot.metrics


async def at(team: Team, day: date, hour: int, minute: int = 0) -> None:
    await team.clock.advance_to(utc(chicago(day, hour, minute)))


async def run_day2_1(team: Team) -> str:
    """day2.1 in staging, then ticked and done in production (-$100/month on Cloud Run)."""
    _, staging = await start_lane(team.bot, "day2.1", "staging")
    assert (await finish(team.clock, staging)).ok
    await tick_all(team.bot, "day2.1", sam)  # staging's "Monitor results" lets production run
    runner, production = await start_lane(team.bot, "day2.1", "production")
    assert (await finish(team.clock, production)).ok
    await tick_all(team.bot, "day2.1", sam)
    return runner.name


async def record_bills(team: Team, cloud_run: str) -> None:
    await team.runtime.reports.record_cost(CHANNEL, "cloud-run", Decimal(cloud_run), lee)
    await team.runtime.reports.record_cost(CHANNEL, "cloud-sql", Decimal("780"), lee)
    await team.runtime.reports.record_cost(CHANNEL, "cache", Decimal("290"), lee)


async def two_days_of_changes(team: Team) -> str:
    """Day 2: day2.1 done, bills, an incident, day2.2 asked for but not approved or ticked.
    Day 3: the incident resolved and another declared, day2.2 ticked, approved and done, day2.1
    rolled back, a new Cloud Run bill. Returns who ran day2.1."""
    bot = team.bot
    await at(team, TUESDAY, 9)
    runner = await run_day2_1(team)
    await at(team, TUESDAY, 12)
    await record_bills(team, "1100")
    await at(team, TUESDAY, 13)
    incident = await bot.watcher.declare_incident(team.run.id, CHANNEL, "checkout errors in the EU", sam)
    await at(team, TUESDAY, 14)
    eu_runner, eu_voters = runner_and_voters(bot, "day2.2", "production")
    await bot.rollout.request_run(CHANNEL, "day2.2", "production", eu_runner)

    await at(team, WEDNESDAY, 9)
    await bot.watcher.resolve(incident.id, sam)
    await bot.watcher.declare_incident(team.run.id, CHANNEL, "a new Day 3 incident", sam)
    await at(team, WEDNESDAY, 10)
    for voter in eu_voters:
        await bot.rollout.approve(CHANNEL, "day2.2", "production", voter)
    plan = await bot.rollout.request_run(CHANNEL, "day2.2", "production", eu_runner)
    started = await bot.rollout.start_execution(CHANNEL, "day2.2", "production", eu_runner, plan.fingerprint)
    assert (await finish(team.clock, started.task)).ok
    await tick_all(bot, "day2.2", sam)  # its smoke-test list is due once the change landed
    await bot.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
    lane = await bot.store.get_lane(team.run.id, "day2.1", "production")
    assert lane is not None and lane.state is StepState.ROLLED_BACK
    await record_bills(team, "1000")
    return runner


def section(text: str, title: str) -> str:
    return text.split(f"*{title}:*")[1].split("\n*")[0]


class TestAPastDay:
    async def test_day_2_asked_for_on_day_4_says_what_day_2s_5_pm_report_said(self, team: Team) -> None:
        runner = await two_days_of_changes(team)
        await at(team, THURSDAY, 10)
        latency(team).windows.clear()

        await team.runtime.reports.daily_report(CHANNEL, 2, lee)

        [post] = team.poster.posts
        text = post.text
        assert text.startswith("*Week 17 Day 2 Report (as of Tue 03 Nov 17:00)*")
        completed = section(text, "Completed")
        assert f"day2.1 Reduce Minimum Instances (US Region) (production, by {runner}" in completed
        assert "day2.2" not in completed  # done on Day 3
        assert "Response Time P95: 36.4ms → 30ms" in text  # read up to 17:00 on Day 2, not now (44ms)
        assert "- Cost expected: -$100/month from the changes in force (day2.1 -$100)" in text  # rollback: later
        assert "- Cost realised: -$130/month from recorded bills" in text  # Day 3's $1,000 bill: not yet
        issues = section(text, "Issues/Blockers")
        assert "(Any production incident, open) since 13:00: Production incident declared by sam: checkout" in issues
        assert "a new Day 3 incident" not in issues
        assert "was rolled back" not in issues
        assert "day2.2 Reduce Minimum Instances (EU Region) awaits approval (production, needs" in issues
        assert "day2.2 checklist not ticked: Check no errors" in issues  # ticked on Day 3
        assert "Not rebuilt" not in text  # the history tells everything here
        report_windows = {end for metric, _, end in latency(team).windows if metric == "p95_latency_ms"}
        assert max(report_windows) == DAY2_REPORT_TIME

    async def test_today_before_17_is_so_far_and_shows_the_state_now(self, team: Team) -> None:
        await two_days_of_changes(team)
        await at(team, THURSDAY, 10)

        await team.runtime.reports.daily_report(CHANNEL, None, lee)

        [post] = team.poster.posts
        assert post.text.startswith("*Week 17 Day 4 Report (so far, at 10:00)*")
        assert "Response Time P95: 36.4ms → 44ms" in post.text
        assert "- Cost expected: -$80/month from the changes in force (day2.2 -$80)" in post.text  # day2.1 undone
        assert "- Cost realised: -$230/month from recorded bills" in post.text
        assert "a new Day 3 incident" in section(post.text, "Issues/Blockers")

    async def test_a_past_day_asked_for_twice_reads_the_same(self, team: Team) -> None:
        await two_days_of_changes(team)
        await at(team, THURSDAY, 10)
        await team.runtime.reports.daily_report(CHANNEL, 2, lee)
        await at(team, THURSDAY, 16)
        await team.runtime.reports.daily_report(CHANNEL, 2, lee)
        first, second = team.poster.posts
        assert first.dedupe_key != second.dedupe_key
        assert first.text.split("Metrics chart:")[0] == second.text.split("Metrics chart:")[0]

    async def test_a_day_that_has_not_come_is_refused_and_nothing_posts(self, team: Team) -> None:
        await at(team, THURSDAY, 10)
        with pytest.raises(Refused, match=r"Day 5 is Fri 06 Nov, which has not come yet.*Nothing was posted"):
            await team.runtime.reports.daily_report(CHANNEL, 5, lee)
        assert team.poster.posts == []

    async def test_today_after_its_report_time_reads_as_of_17(self, team: Team) -> None:
        await at(team, TUESDAY, 9)
        await run_day2_1(team)
        await at(team, TUESDAY, 17, 40)
        await team.bot.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        await team.runtime.reports.daily_report(CHANNEL, None, lee)
        [post] = team.poster.posts
        assert post.text.startswith("*Week 17 Day 2 Report (as of Tue 03 Nov 17:00)*")
        assert "- Cost expected: -$100/month from the changes in force (day2.1 -$100)" in post.text
        assert "was rolled back" not in post.text


class TestThePhaseSummaryOnDemand:
    async def test_day_5_asked_for_later_posts_the_report_and_the_summary_as_they_stood_on_friday(
        self, team: Team
    ) -> None:
        await at(team, TUESDAY, 9)
        await run_day2_1(team)
        await at(team, WEDNESDAY, 17)
        await team.bot.rollout.gate_decide(CHANNEL, "gonogo.day3", False, "the cache is not warm yet", lee)
        await at(team, FRIDAY, 15)
        incident = await team.bot.watcher.declare_incident(team.run.id, CHANNEL, "Friday incident", sam)
        await at(team, NEXT_MONDAY, 9)
        await team.bot.watcher.resolve(incident.id, sam)
        await team.bot.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        await team.bot.rollout.gate_reopen(CHANNEL, "gonogo.day3", "the cache is warm now", lee)

        await team.runtime.reports.daily_report(CHANNEL, 5, lee)

        daily, summary = team.poster.posts
        assert daily.text.startswith("*Week 17 Day 5 Report (as of Fri 06 Nov 17:00)*")
        assert summary.text.startswith("*Week 17 Quick Wins Summary (Days 1-5) (as of Fri 06 Nov 17:00)*")
        assert "- Cloud Run: target -$250 ($1,200 → $950); expected -$100;" in summary.text  # undone on Day 6
        assert "open) since 15:00: Production incident declared by sam: Friday" in section(
            summary.text, "Issues/Blockers"
        )
        decision = section(summary.text, "Decision")
        assert "- Day 3 decision point: Database + Cache Phase 1: PAUSE (lee)" in decision  # NO then, reopened since
        incidents = next(line for line in summary.text.splitlines() if "No production incidents" in line)
        assert "unknown (cannot be rebuilt for then: 1 incident(s) open at the time were resolved since" in incidents
