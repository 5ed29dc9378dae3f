"""Two schedulers (two replicas) on one database over the whole simulated run post each report once.

The scheduler's claims are the store's unique (job, run, local date) rows, so this runs on SQLite
and on PostgreSQL like every store test.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.scheduler import ReportScheduler, build_jobs, fire_times
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.reports.fixtures import RUN_START, RecordingCallbacks, VirtualClock, utc, week17_runbook
from tests.reports.test_scheduler import chicago

RUNBOOK = week17_runbook()
RUN_ID = "run-1"


async def test_two_replicas_on_one_database_post_each_report_exactly_once(database_url: str) -> None:
    clock = VirtualClock(utc(2026, 10, 21))
    replicas = []
    for _ in range(2):  # two processes: two engines, two connection pools, one database
        store = SqlStore(create_engine_for(database_url))
        callbacks = RecordingCallbacks()
        scheduler = ReportScheduler(AsyncIOScheduler(timezone="UTC"), callbacks, store, clock)
        scheduler.add_run(RUN_ID, RUNBOOK, RUN_START)
        replicas.append((store, scheduler, callbacks))
    try:
        window = (chicago(2026, 10, 22), chicago(2026, 11, 6))
        due = sorted(
            (t, spec.job_key)
            for spec in build_jobs(RUNBOOK, RUN_START)
            if spec.claim != "none" and spec.job_key != "scaling"
            for t in fire_times(spec.trigger, *window)
        )
        for turn, (at, key) in enumerate(due):
            clock.set(at + timedelta(seconds=2))
            # Who asks first takes turns: the race stays real, and each replica gets to win some.
            order = replicas if turn % 2 == 0 else replicas[::-1]
            await asyncio.gather(*(scheduler.fire(RUN_ID, key) for _, scheduler, _ in order))
        posted = [call for _, _, callbacks in replicas for call in callbacks.calls]
        assert set(Counter(call[:-1] for call in posted).values()) == {1}
        assert sorted(call[2] for call in posted if call[0] == "daily_report") == list(range(1, 11))
        assert Counter(call[2] for call in posted if call[0] == "standup") == {"US": 10, "EU": 10, "Asia": 10}
        assert sorted(call[0:3] for call in posted if call[0] in ("phase_summary", "final_report")) == [
            ("final_report", RUN_ID, 10),
            ("phase_summary", RUN_ID, 5),
        ]
        assert all(callbacks.calls for _, _, callbacks in replicas), "both replicas won some claims"
    finally:
        for store, _, _ in replicas:
            await store.close()
