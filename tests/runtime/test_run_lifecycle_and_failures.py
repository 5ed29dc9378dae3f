"""The runtime follows runs across replicas (started or finished anywhere), a failed post is retried
and then announced, and missed reports are announced through the store's outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import Bot
from bot.engine.clock import SystemClock, VirtualClock
from bot.engine.records import Run
from bot.runtime import RESYNC_EVERY, RESYNC_JOB_ID, Runtime
from bot.scheduler import JobSkipped
from bot.sim.slack_api import FakeSlackApi
from bot.slack.delivery.outbox import Outbox
from bot.slack.delivery.report_poster import SlackReportPoster
from tests.runtime.harness import (
    CHANNEL,
    MONDAY,
    RecordingPoster,
    build_bot,
    chicago,
    lee,
    start_and_pass_preflight,
    utc,
)

WATCH_EVERY = timedelta(minutes=30)
TUESDAY, WEDNESDAY = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)


@dataclass
class FlakyPoster(RecordingPoster):
    """Posting a daily report raises ``failures`` times (None: always); every other post goes through."""

    failures: int | None = 1
    refused: int = 0

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, dedupe_key: str) -> None:
        if dedupe_key.startswith("daily_report:") and (self.failures is None or self.refused < self.failures):
            self.refused += 1
            raise ConnectionError("the database went away")
        await super().post(channel, text, blocks, dedupe_key)


@dataclass
class Replica:
    bot: Bot
    clock: VirtualClock
    poster: RecordingPoster
    runtime: Runtime
    runs: list[Run] = field(default_factory=list)


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    """Two processes on one SQLite database, each with its own clock at 07:00 on Day 1; no run yet."""
    made: list[Replica] = []
    try:
        for _ in range(2):
            clock = VirtualClock(utc(chicago(MONDAY, 7)))
            bot = await build_bot(tmp_path / "ion.db", clock)
            poster = RecordingPoster(clock)
            runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
            made.append(Replica(bot, clock, poster, runtime))
            await runtime.start()
        yield made
    finally:
        for replica in made:
            await replica.runtime.stop()
            await replica.bot.close()


class TestRunsAcrossReplicas:
    async def test_a_finished_run_posts_no_report_or_standup_afterwards(self, replicas: list[Replica]) -> None:
        a = replicas[0]
        run = await start_and_pass_preflight(a.bot)
        await a.runtime.run_due(utc(chicago(MONDAY, 12)))
        posted = list(a.poster.posts)
        assert a.poster.keyed("standup:")  # the morning went as usual
        await a.bot.rollout.finish(CHANNEL, lee, "called off")
        assert run.id not in a.runtime.report_scheduler.runs  # the event dropped it at once
        await a.runtime.run_due(utc(chicago(TUESDAY, 18)))
        assert a.poster.posts == posted

    async def test_a_replica_that_has_not_resynced_yet_skips_the_finished_run_s_report(
        self, replicas: list[Replica]
    ) -> None:
        a, b = replicas
        run = await start_and_pass_preflight(a.bot)
        await b.runtime.run_due(utc(chicago(MONDAY, 7, 1)))  # b's resync tick schedules the run
        assert run.id in b.runtime.report_scheduler.runs
        await a.bot.rollout.finish(CHANNEL, lee, "called off")
        await b.clock.advance_to(utc(chicago(MONDAY, 17, 0)) + timedelta(seconds=1))
        result = await b.runtime.report_scheduler.fire(run.id, "daily_report")
        assert (result.posted, result.reason) == (False, f"skipped: run {run.id} is finished")
        with pytest.raises(JobSkipped):
            await b.runtime.jobs.post_standup(run.id, "US", 1, False)
        assert not b.poster.keyed("daily_report:")

    async def test_a_run_started_on_another_replica_is_scheduled_here_at_the_next_resync(
        self, replicas: list[Replica]
    ) -> None:
        a, b = replicas
        run = await start_and_pass_preflight(b.bot)  # b's process got the /ion start
        await a.runtime.run_due(utc(chicago(MONDAY, 7)) + timedelta(seconds=30))
        assert run.id not in a.runtime.report_scheduler.runs
        await a.runtime.run_due(utc(chicago(MONDAY, 7, 1)))
        assert run.id in a.runtime.report_scheduler.runs
        await a.runtime.run_due(utc(chicago(MONDAY, 18)))
        [report] = a.poster.keyed("daily_report:")
        assert report.dedupe_key == f"daily_report:{run.id}:1" and report.at == utc(chicago(MONDAY, 17))
        assert {p.dedupe_key.split(":")[1] for p in a.poster.keyed("standup:")} == {"Asia", "US", "EU"}
        assert not b.poster.posts  # b never ran its clock: a posted everything, once


async def team_with(tmp_path: Path, failures: int | None) -> tuple[Bot, FlakyPoster, Runtime, Run]:
    """One process whose daily-report posts fail ``failures`` times (None: always), with a run started."""
    clock = VirtualClock(utc(chicago(MONDAY, 7)))
    bot = await build_bot(tmp_path / "ion.db", clock)
    poster = FlakyPoster(clock, failures=failures)
    runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
    await runtime.start()
    return bot, poster, runtime, await start_and_pass_preflight(bot)


class TestFailedPosts:
    async def test_a_report_whose_post_fails_once_posts_at_the_next_tick(self, tmp_path: Path) -> None:
        bot, poster, runtime, run = await team_with(tmp_path, 1)
        try:
            await runtime.run_due(utc(chicago(MONDAY, 18)))
        finally:
            await runtime.stop()
            await bot.close()
        [report] = poster.keyed("daily_report:")
        assert poster.refused == 1
        assert report.dedupe_key == f"daily_report:{run.id}:1" and report.at == utc(chicago(MONDAY, 17, 1))
        assert "Week 17 Day 1 Report" in report.text
        assert not report.text.startswith("_(late")  # a minute is not late
        assert not poster.keyed("missed:")

    async def test_a_report_that_never_posts_is_tried_three_times_then_announced(self, tmp_path: Path) -> None:
        bot, poster, runtime, run = await team_with(tmp_path, None)
        try:
            await runtime.run_due(utc(chicago(MONDAY, 18)))
            assert runtime.report_scheduler.retries == {}
        finally:
            await runtime.stop()
            await bot.close()
        assert not poster.keyed("daily_report:") and poster.refused == 3
        [notice] = poster.keyed("missed:")
        assert notice.dedupe_key == f"missed:daily_report:{run.id}:1"
        assert notice.at == utc(chicago(MONDAY, 17, 2))
        assert notice.text == (
            ":warning: The Day 1 report could not be posted (3 attempts failed; the bot's log has the error); "
            "run `/ion report 1`."
        )


class TestMissedThroughTheOutbox:
    async def test_after_two_days_down_one_notice_names_both_reports_and_goes_out_through_the_outbox(
        self, tmp_path: Path
    ) -> None:
        clock = VirtualClock(utc(chicago(MONDAY, 7)))
        bot = await build_bot(tmp_path / "ion.db", clock)
        try:
            run = await start_and_pass_preflight(bot)
            await clock.advance_to(utc(chicago(WEDNESDAY, 10)))  # down since Monday morning
            async with FakeSlackApi() as api:
                client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
                for _ in range(2):  # a restart, then another: the notice goes out once
                    runtime = Runtime(bot, SlackReportPoster(Outbox(bot.store, client, clock), client))
                    await runtime.start()
                    await runtime.stop()
                posted = [call["text"] for call in api.calls("chat.postMessage")]
            assert await bot.store.pending() == []  # enqueued in the outbox and delivered
        finally:
            await bot.close()
        assert posted == [
            ":warning: The Day 1 and Day 2 reports were missed (the bot was not running at the time); "
            "run `/ion report 1` and `/ion report 2`."
        ]
        assert run.channel == CHANNEL


class TestRealTime:
    async def test_under_serve_the_minute_resync_is_an_apscheduler_job(self, tmp_path: Path) -> None:
        bot = await build_bot(tmp_path / "ion.db", SystemClock())  # type: ignore[arg-type]
        scheduler = AsyncIOScheduler(timezone="UTC")
        runtime = Runtime(bot, RecordingPoster(VirtualClock(utc(chicago(MONDAY, 7)))), scheduler)
        try:
            await runtime.start()
            job = scheduler.get_job(RESYNC_JOB_ID)
            assert job is not None and job.trigger.interval == RESYNC_EVERY
            assert (job.coalesce, job.max_instances) == (True, 1)
        finally:
            await runtime.stop()
            await bot.close()
