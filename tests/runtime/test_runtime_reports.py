"""Issue 7: the scheduled reports, standups and reminders post themselves inside the bot, once each,
at their virtual times; a restart posts a missed report late; bills and rollbacks show up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.records import StepState
from bot.runtime import Runtime
from tests.runtime.harness import (
    CHANNEL,
    MONDAY,
    RecordingPoster,
    Team,
    build_bot,
    chicago,
    done_all,
    finish,
    start_and_pass_preflight,
    start_lane,
    team_at,
    tick_all,
    utc,
)

DAY1_REPORT = "daily_report:"
WATCH_EVERY = timedelta(minutes=30)  # a coarser trigger watch keeps the virtual day fast


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    async with team_at(tmp_path / "ion.db", 7, WATCH_EVERY, started=True) as team:
        yield team


async def day1_morning(team: Team) -> list[str]:
    """Slow query analysis in production, then the indexes in staging and production (ticked)."""
    bot, clock = team.bot, team.clock
    runners = []
    for step_id, env in (("day1.1", "production"), ("day1.2", "staging"), ("day1.2", "production")):
        runner, task = await start_lane(bot, step_id, env)
        runners.append(runner.name)
        assert (await done_all(bot, clock, await finish(clock, task), runner)).ok
        if step_id == "day1.2" and env == "production":
            await tick_all(bot, "day1.2", runner)
    return runners
    lane = await bot.store.get_lane(team.run.id, "day1.2", "production")
    assert lane is not None and lane.state is StepState.DONE


class TestDayOne:
    async def test_one_day_1_report_posts_at_17_with_the_completed_steps_and_metrics(self, team: Team) -> None:
        runners = await day1_morning(team)
        await team.runtime.run_due(utc(chicago(MONDAY, 18)))
        reports = team.poster.keyed(DAY1_REPORT)
        assert [r.dedupe_key for r in reports] == [f"daily_report:{team.run.id}:1"]
        report = reports[0]
        assert report.at == utc(chicago(MONDAY, 17))
        assert "Week 17 Day 1 Report" in report.text
        assert f"day1.1 Slow Query Analysis (production, by {runners[0]}" in report.text
        assert f"day1.2 Add Database Indexes (staging, by {runners[1]}" in report.text
        assert f"day1.2 Add Database Indexes (production, by {runners[2]}" in report.text
        assert "Response Time P95: 36.4ms →" in report.text
        assert "late" not in report.text.split("\n")[0]
        assert report.blocks and all(len(b["text"]["text"]) <= 3000 for b in report.blocks if b["type"] == "section")

    async def test_the_standups_and_the_gate_reminder_post_at_their_own_times(self, team: Team) -> None:
        await team.runtime.run_due(utc(chicago(MONDAY, 18)))
        at = {p.dedupe_key.split(":")[0] + ":" + p.dedupe_key.split(":")[1]: p.at for p in team.poster.posts}
        assert at["standup:Asia"] == utc(chicago(MONDAY, 8))  # 22:00 in Singapore
        assert at["standup:US"] == utc(chicago(MONDAY, 9))
        assert at["standup:EU"] == utc(chicago(MONDAY, 11))  # 18:00 in Berlin
        assert at["gate:preflight"] == utc(chicago(MONDAY, 9))
        assert "already decided YES by lee" in team.poster.keyed("gate:preflight")[0].text
        assert "Week 17 Day 1 Standup (US)" in team.poster.keyed("standup:US")[0].text

    async def test_running_the_same_span_again_or_retrying_the_post_adds_nothing(self, team: Team) -> None:
        await team.runtime.run_due(utc(chicago(MONDAY, 18)))
        posted = list(team.poster.posts)
        assert await team.runtime.run_due(utc(chicago(MONDAY, 18))) == []
        await team.runtime.jobs.post_daily_report(team.run.id, 1, False)  # a retried job body
        assert team.poster.posts == posted
        assert len(team.poster.keyed(DAY1_REPORT)) == 1

    async def test_the_chart_of_the_day_is_uploaded_as_a_png_and_named_in_the_report(self, team: Team) -> None:
        await team.runtime.run_due(utc(chicago(MONDAY, 18)))
        [upload] = team.poster.uploads
        assert upload.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert upload.filename == "day1-metrics.png" and upload.channel == CHANNEL
        assert "Metrics chart: /tmp/ionbot-files/day1-metrics.png" in team.poster.keyed(DAY1_REPORT)[0].text


class TestReplicasAndRestarts:
    async def test_two_runtimes_on_one_database_post_each_report_once(self, team: Team, tmp_path: Path) -> None:
        other_clock = VirtualClock(utc(chicago(MONDAY, 7)))
        other_bot = await build_bot(tmp_path / "ion.db", other_clock)
        other_poster = RecordingPoster(other_clock)
        other = Runtime(other_bot, other_poster, watch_every=WATCH_EVERY)
        try:
            await other.start()
            await team.runtime.run_due(utc(chicago(MONDAY, 12)))
            await other.run_due(utc(chicago(MONDAY, 18)))
            await team.runtime.run_due(utc(chicago(MONDAY, 18)))
        finally:
            await other.stop()
            await other_bot.close()
        keys = [p.dedupe_key for p in team.poster.posts + other_poster.posts]
        assert sorted(keys) == sorted(set(keys))
        assert [p.dedupe_key for p in other_poster.keyed(DAY1_REPORT)] == [f"daily_report:{team.run.id}:1"]
        assert not team.poster.keyed(DAY1_REPORT)
        assert len([k for k in keys if k.startswith("standup:")]) == 3

    async def test_a_restart_at_17_20_posts_the_day_1_report_marked_late(self, tmp_path: Path) -> None:
        clock = VirtualClock(utc(chicago(MONDAY, 7)))
        bot = await build_bot(tmp_path / "ion.db", clock)
        try:
            run = await start_and_pass_preflight(bot)
            await clock.advance_to(utc(chicago(MONDAY, 17, 20)))  # the bot was down all day
            poster = RecordingPoster(clock)
            runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
            results = await runtime.start()
            await runtime.stop()
        finally:
            await bot.close()
        [report] = poster.keyed(DAY1_REPORT)
        assert report.dedupe_key == f"daily_report:{run.id}:1"
        assert report.text.startswith("_(late: posted 17:20, due 17:00)_\n")
        assert "Week 17 Day 1 Report" in report.text
        assert [r.late for r in results if r.posted] == [True]
        assert not poster.keyed("standup:")  # past their 15 minutes, and never announced as missed


class TestWiring:
    async def test_a_run_started_while_the_runtime_is_up_is_scheduled_at_once(self, team: Team) -> None:
        scheduled = team.runtime.report_scheduler.runs[team.run.id]
        assert scheduled.start_date == MONDAY
        assert {"daily_report", "standup:US", "gate:preflight", "trigger_watch"} <= set(scheduled.jobs)

    async def test_ready_once_started_on_a_virtual_clock_and_not_after_stop(self, team: Team) -> None:
        assert await team.runtime.ready()
        await team.runtime.stop()
        assert not await team.runtime.ready()
