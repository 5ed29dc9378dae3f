"""Jobs follow the runbook's schedule across DST; each report posts exactly once across replicas and restarts."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.scheduler import (
    POST_ATTEMPTS,
    JobSpec,
    ReportScheduler,
    build_jobs,
    fire_times,
    missed_report_text,
    run_dates,
    run_day_of,
)
from tests.reports.fixtures import (
    RUN_START,
    FakeClaimStore,
    RecordingCallbacks,
    VirtualClock,
    utc,
    week17_runbook,
)

RUNBOOK = week17_runbook()
CHICAGO = ZoneInfo("America/Chicago")
RUN_ID = "run-1"


def jobs() -> dict[str, JobSpec]:
    return {j.job_key: j for j in build_jobs(RUNBOOK, RUN_START)}


def chicago(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CHICAGO)


def day_1_posted() -> FakeClaimStore:
    """Claims where the Day 1 report (Thu 22 Oct) went out: only later days can be missed."""
    claims = FakeClaimStore()
    claims.claimed.add(("daily_report", RUN_ID, "2026-10-22"))
    return claims


def replica(claims: FakeClaimStore, clock: VirtualClock) -> tuple[ReportScheduler, RecordingCallbacks]:
    callbacks = RecordingCallbacks()
    scheduler = ReportScheduler(AsyncIOScheduler(timezone="UTC"), callbacks, claims, clock)
    scheduler.add_run(RUN_ID, RUNBOOK, RUN_START)
    return scheduler, callbacks


class TestRunCalendar:
    def test_day_n_is_the_nth_working_day_from_the_start(self) -> None:
        dates = run_dates(RUNBOOK.calendar, RUN_START)
        assert dates[0] == date(2026, 10, 22) and dates[2] == date(2026, 10, 26) and dates[-1] == date(2026, 11, 4)
        assert run_day_of(RUNBOOK.calendar, RUN_START, date(2026, 11, 2)) == 8
        assert run_day_of(RUNBOOK.calendar, RUN_START, date(2026, 10, 24)) is None  # Saturday
        assert run_day_of(RUNBOOK.calendar, RUN_START, date(2026, 11, 5)) is None  # after the run


class TestBuildJobs:
    def test_jobs_follow_the_runbook_schedule(self) -> None:
        specs = jobs()
        assert list(specs) == [
            "daily_report",
            "standup:US",
            "standup:EU",
            "standup:Asia",
            "gate:preflight",
            "gate:gonogo.day3",
            "gate:gonogo.day10",
            "phase_summary",
            "final_report",
            "scaling",
            "trigger_watch",
        ]
        assert specs["daily_report"].misfire_grace_time == timedelta(hours=1)
        assert specs["standup:EU"].misfire_grace_time == timedelta(minutes=15)
        assert (specs["phase_summary"].day, specs["final_report"].day) == (5, 10)
        assert specs["trigger_watch"].claim == "none"

    def test_daily_report_stays_at_17_chicago_across_the_november_fall_back(self) -> None:
        trigger = jobs()["daily_report"].trigger
        friday = trigger.get_next_fire_time(None, chicago(2026, 10, 30, 12))
        monday = trigger.get_next_fire_time(None, chicago(2026, 10, 30, 18))
        assert friday == utc(2026, 10, 30, 22) and monday == utc(2026, 11, 2, 23)
        assert friday.astimezone(CHICAGO).hour == monday.astimezone(CHICAGO).hour == 17

    def test_daily_report_fires_on_the_ten_run_days_only(self) -> None:
        times = fire_times(jobs()["daily_report"].trigger, utc(2026, 10, 1), utc(2026, 12, 1))
        assert [t.astimezone(CHICAGO).date() for t in times] == run_dates(RUNBOOK.calendar, RUN_START)

    def test_eu_standup_stays_at_18_berlin_across_the_october_change(self) -> None:
        trigger = jobs()["standup:EU"].trigger
        assert trigger.get_next_fire_time(None, utc(2026, 10, 23, 0)) == utc(2026, 10, 23, 16)  # CEST
        assert trigger.get_next_fire_time(None, utc(2026, 10, 26, 0)) == utc(2026, 10, 26, 17)  # CET

    def test_asia_and_us_standups_keep_their_own_wall_clock(self) -> None:
        specs = jobs()
        asia, us = specs["standup:Asia"].trigger, specs["standup:US"].trigger
        assert asia.get_next_fire_time(None, utc(2026, 10, 30, 0)) == utc(2026, 10, 30, 14)
        assert asia.get_next_fire_time(None, utc(2026, 11, 2, 0)) == utc(2026, 11, 2, 14)
        assert us.get_next_fire_time(None, utc(2026, 10, 30, 0)) == utc(2026, 10, 30, 14)
        assert us.get_next_fire_time(None, utc(2026, 11, 2, 0)) == utc(2026, 11, 2, 15)

    def test_one_off_jobs_fire_once_on_their_day(self) -> None:
        specs = jobs()
        window = (utc(2026, 10, 1), utc(2026, 12, 1))
        assert fire_times(specs["phase_summary"].trigger, *window) == [chicago(2026, 10, 28, 17)]
        assert fire_times(specs["final_report"].trigger, *window) == [utc(2026, 11, 4, 23)]
        assert fire_times(specs["gate:gonogo.day3"].trigger, *window) == [chicago(2026, 10, 26, 17)]

    def test_scaling_runs_every_hour_through_the_fall_back_night(self) -> None:
        times = fire_times(jobs()["scaling"].trigger, chicago(2026, 11, 1, 0, 0), chicago(2026, 11, 1, 23, 59))
        assert len(times) == 25  # the day has 25 local hours; none repeats, none is skipped
        assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(times))

    def test_the_watch_runs_at_the_schedule_interval(self) -> None:
        trigger = jobs()["trigger_watch"].trigger
        first = trigger.get_next_fire_time(None, utc(2026, 10, 23, 12, 0, 30))
        assert trigger.get_next_fire_time(first, first + timedelta(microseconds=1)) - first == timedelta(seconds=60)


class TestClaims:
    async def test_two_replicas_over_the_whole_run_post_each_report_exactly_once(self) -> None:
        claims = FakeClaimStore()
        clock = VirtualClock(utc(2026, 10, 21))
        (a, calls_a), (b, calls_b) = replica(claims, clock), replica(claims, clock)
        window = (chicago(2026, 10, 22), chicago(2026, 11, 6))
        due = sorted(
            (t, spec.job_key)
            for spec in jobs().values()
            if spec.claim != "none"
            for t in fire_times(spec.trigger, *window)
        )
        for at, key in due:
            clock.set(at + timedelta(seconds=2))
            await asyncio.gather(a.fire(RUN_ID, key), b.fire(RUN_ID, key))
        posted = [c for c in calls_a.calls + calls_b.calls if c[0] != "scaling"]
        counts = Counter(c[:-1] for c in posted)
        assert set(counts.values()) == {1}
        assert sorted(c[2] for c in posted if c[0] == "daily_report") == list(range(1, 11))
        assert Counter(c[2] for c in posted if c[0] == "standup") == {"US": 10, "EU": 10, "Asia": 10}
        assert [c[2] for c in posted if c[0] == "gate_reminder"] == ["preflight", "gonogo.day3", "gonogo.day10"]
        assert [c[0:3] for c in posted if c[0] in ("phase_summary", "final_report")] == [
            ("phase_summary", RUN_ID, 5),
            ("final_report", RUN_ID, 10),
        ]
        assert not any(c[-1] for c in posted)  # nothing was late
        scaling = [c[2] for c in calls_a.calls + calls_b.calls if c[0] == "scaling"]
        assert len(scaling) == len(set(scaling)) == len([d for d in due if d[1] == "scaling"])

    async def test_a_standup_on_a_weekend_is_not_posted(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 24, 9, 0, 5))
        scheduler, calls = replica(FakeClaimStore(), clock)
        result = await scheduler.fire(RUN_ID, "standup:US")
        assert (result.posted, result.reason) == (False, "not a run day")
        assert calls.calls == []

    async def test_a_restart_after_posting_does_not_post_again(self) -> None:
        claims = day_1_posted()
        clock = VirtualClock(chicago(2026, 10, 23, 17, 0, 1))
        first, calls_first = replica(claims, clock)
        assert (await first.fire(RUN_ID, "daily_report")).posted
        clock.set(chicago(2026, 10, 23, 17, 10))
        restarted, calls_restarted = replica(claims, clock)
        assert not any(r.posted for r in await restarted.catch_up())
        assert calls_first.calls == [("daily_report", RUN_ID, 2, False)] and calls_restarted.calls == []


class TestLateAndMissed:
    async def test_down_at_17_and_back_at_17_20_posts_the_report_marked_late_once(self) -> None:
        claims = day_1_posted()
        clock = VirtualClock(chicago(2026, 10, 23, 17, 20))
        (a, calls_a), (b, calls_b) = replica(claims, clock), replica(claims, clock)
        await a.catch_up()
        await b.catch_up()
        assert calls_a.calls + calls_b.calls == [("daily_report", RUN_ID, 2, True)]

    async def test_a_report_missed_beyond_its_grace_posts_one_notice_naming_the_command(self) -> None:
        claims = FakeClaimStore()
        clock = VirtualClock(chicago(2026, 10, 22, 17, 0, 1))
        (a, calls_a), (b, calls_b) = replica(claims, clock), replica(claims, clock)
        assert (await a.fire(RUN_ID, "daily_report")).posted  # Day 1 went out
        clock.set(chicago(2026, 10, 23, 18, 30))
        await asyncio.gather(a.catch_up(), b.catch_up())
        assert calls_a.calls[1:] + calls_b.calls == [
            (
                "missed",
                RUN_ID,
                "daily_report",
                2,
                "The Day 2 report was missed (the bot was not running at the time); run `/ion report 2`.",
            )
        ]
        await a.catch_up(chicago(2026, 10, 23, 19))
        assert len(calls_a.calls + calls_b.calls) == 2

    async def test_after_days_down_one_notice_names_every_report_missed_since_the_last_one_posted(self) -> None:
        claims = FakeClaimStore()
        clock = VirtualClock(chicago(2026, 10, 22, 17, 0, 1))
        a, _ = replica(claims, clock)
        assert (await a.fire(RUN_ID, "daily_report")).posted  # Day 1 (Thu 22 Oct)
        clock.set(chicago(2026, 10, 27, 10))  # back on Day 4 (Tue): Fri and Mon were missed
        (b, calls_b), (c, calls_c) = replica(claims, clock), replica(claims, clock)
        await asyncio.gather(b.catch_up(), c.catch_up())
        missed = [call for call in calls_b.calls + calls_c.calls if call[0] == "missed"]
        assert missed == [
            (
                "missed",
                RUN_ID,
                "daily_report",
                3,
                "The Day 2 and Day 3 reports were missed (the bot was not running at the time); "
                "run `/ion report 2` and `/ion report 3`.",
            )
        ]
        await b.catch_up()
        assert [call for call in calls_b.calls + calls_c.calls if call[0] == "missed"] == missed

    async def test_the_missed_notice_stays_within_the_run_and_posts_a_report_still_in_its_grace(self) -> None:
        clock = VirtualClock(chicago(2026, 11, 4, 17, 20))  # Day 10, 17:20: nothing ever ran
        scheduler, calls = replica(FakeClaimStore(), clock)
        await scheduler.catch_up()
        [notice] = [call for call in calls.calls if call[0] == "missed" and call[2] == "daily_report"]
        assert notice[3] == 9 and notice[4] == missed_report_text("daily_report", range(1, 10))
        assert notice[4].startswith("The Day 1, Day 2, Day 3, Day 4, Day 5, Day 6, Day 7, Day 8 and Day 9 reports")
        assert ("daily_report", RUN_ID, 10, True) in calls.calls
        assert ("final_report", RUN_ID, 10, True) in calls.calls
        assert [call[3] for call in calls.calls if call[0] == "missed" and call[2] == "phase_summary"] == [5]

    async def test_a_late_job_run_within_grace_is_marked_late(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 28, 17, 20))
        scheduler, calls = replica(FakeClaimStore(), clock)
        result = await scheduler.fire(RUN_ID, "phase_summary")
        assert (result.posted, result.late, result.day) == (True, True, 5)
        assert calls.calls == [("phase_summary", RUN_ID, 5, True)]

    async def test_a_job_run_after_its_grace_does_nothing(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 23, 18, 30))
        scheduler, calls = replica(FakeClaimStore(), clock)
        result = await scheduler.fire(RUN_ID, "daily_report")
        assert not result.posted and calls.calls == []

    async def test_a_missed_standup_is_not_announced_but_the_missed_report_of_the_day_before_is(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 23, 10, 0))  # Day 2, after the US standup's 15 minutes
        scheduler, calls = replica(FakeClaimStore(), clock)
        await scheduler.catch_up()
        assert [c[0:4] for c in calls.calls] == [("missed", RUN_ID, "daily_report", 1)]

    async def test_a_finished_run_s_job_is_skipped_without_a_retry_or_a_notice(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 23, 17, 0, 1))
        scheduler, calls = replica(FakeClaimStore(), clock)
        calls.closed_runs.add(RUN_ID)
        result = await scheduler.fire(RUN_ID, "daily_report")
        assert (result.posted, result.reason) == (False, f"skipped: run {RUN_ID} is finished")
        clock.set(chicago(2026, 10, 23, 19))
        assert await scheduler.retry_failed() == [] and scheduler.retries == {}
        assert calls.calls == []

    async def test_a_failing_callback_is_reported_and_does_not_stop_catch_up(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 26, 17, 20))  # Day 3: daily report and the gate reminder are due
        scheduler, calls = replica(FakeClaimStore(), clock)
        calls.fail_daily_report = True
        results = await scheduler.catch_up()
        failed = [r for r in results if not r.posted and r.day == 3]
        assert failed and "posting failed (RuntimeError: Slack is down)" in failed[0].reason
        assert ("gate_reminder", RUN_ID, "gonogo.day3", True) in calls.calls


class TestWiring:
    def test_add_run_registers_coalescing_jobs_with_their_grace_and_remove_run_drops_them(self) -> None:
        aps = AsyncIOScheduler(timezone="UTC")
        scheduler = ReportScheduler(aps, RecordingCallbacks(), FakeClaimStore(), VirtualClock(utc(2026, 10, 21)))
        scheduler.add_run(RUN_ID, RUNBOOK, RUN_START)
        scheduler.add_run(RUN_ID, RUNBOOK, RUN_START)  # idempotent
        registered = {job.id: job for job in aps.get_jobs()}
        assert len(registered) == 11
        report = registered[f"{RUN_ID}:daily_report"]
        assert (report.coalesce, report.misfire_grace_time, report.args) == (True, 3600, (RUN_ID, "daily_report"))
        scheduler.remove_run(RUN_ID)
        assert aps.get_jobs() == []


class TestFailedPosts:
    async def test_a_post_that_fails_once_gives_its_claim_back_and_posts_at_the_next_tick(self) -> None:
        claims = day_1_posted()
        clock = VirtualClock(chicago(2026, 10, 23, 17, 0, 1))
        scheduler, calls = replica(claims, clock)
        calls.daily_report_failures = 1
        first = await scheduler.fire(RUN_ID, "daily_report")
        assert not first.posted and f"attempt 1 of {POST_ATTEMPTS}, retried at the next tick" in first.reason
        assert claims.released == [("daily_report", RUN_ID, "2026-10-23")]
        clock.set(chicago(2026, 10, 23, 17, 1))
        await scheduler.fire(RUN_ID, "trigger_watch")  # any job's tick runs the retries first
        assert [c for c in calls.calls if c[0] != "watch"] == [("daily_report", RUN_ID, 2, False)]
        assert scheduler.retries == {}
        other, other_calls = replica(claims, clock)
        assert not any(r.posted for r in await other.catch_up()) and other_calls.calls == []

    async def test_a_post_that_always_fails_is_tried_a_bounded_number_of_times_then_announced(self) -> None:
        claims = day_1_posted()
        clock = VirtualClock(chicago(2026, 10, 23, 17, 0, 1))
        scheduler, calls = replica(claims, clock)
        calls.fail_daily_report = True
        results = [await scheduler.fire(RUN_ID, "daily_report")]
        for minute in range(1, 6):
            clock.set(chicago(2026, 10, 23, 17, minute))
            results += await scheduler.retry_failed()
        assert len(results) == POST_ATTEMPTS
        assert "gave up after 3 attempts, the failure notice was posted" in results[-1].reason
        assert calls.calls == [
            (
                "missed",
                RUN_ID,
                "daily_report",
                2,
                "The Day 2 report could not be posted (3 attempts failed; the bot's log has the error); "
                "run `/ion report 2`.",
            )
        ]
        clock.set(chicago(2026, 10, 24, 9))
        restarted, restarted_calls = replica(claims, clock)
        await restarted.catch_up()  # the claim was kept: no second notice, no "missed" either
        assert restarted_calls.calls == []

    async def test_a_retry_that_comes_after_the_grace_gives_up_and_says_so(self) -> None:
        clock = VirtualClock(chicago(2026, 10, 23, 17, 0, 1))
        scheduler, calls = replica(day_1_posted(), clock)
        calls.daily_report_failures = 1
        await scheduler.fire(RUN_ID, "daily_report")
        clock.set(chicago(2026, 10, 23, 18, 30))
        [result] = await scheduler.retry_failed()
        assert "its retry came after its grace time; gave up after 1 attempts" in result.reason
        assert [c[0:4] for c in calls.calls] == [("missed", RUN_ID, "daily_report", 2)]
        assert "could not be posted" in calls.calls[0][4]

    async def test_a_retry_a_catch_up_took_over_is_dropped(self) -> None:
        claims = day_1_posted()
        clock = VirtualClock(chicago(2026, 10, 23, 17, 0, 1))
        scheduler, calls = replica(claims, clock)
        calls.daily_report_failures = 1
        await scheduler.fire(RUN_ID, "daily_report")
        clock.set(chicago(2026, 10, 23, 17, 10))
        other, other_calls = replica(claims, clock)
        await other.catch_up()  # a replica restarting meanwhile posts it
        assert ("daily_report", RUN_ID, 2, True) in other_calls.calls
        [result] = await scheduler.retry_failed()
        assert result.reason.startswith("already posted") and scheduler.retries == {}
        assert calls.calls == []
