"""Issue 16, the email's retry made durable: a failed report email is retried from its claim in the
store, so a restarted process (or any replica) sends it, exactly once, and gives up aloud."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot, build
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.runtime import Runtime
from tests.reports.smtp_server import Inbox, smtp_server
from tests.runtime.harness import MONDAY, RUNBOOK, RecordingPoster, chicago, start_and_pass_preflight, utc

WATCH_EVERY = timedelta(minutes=30)
BUSY = "(3 attempts; SMTPDataError: (451, '4.3.0 Mailbox busy, try again later'))"


@asynccontextmanager
async def mail_server(inbox: Inbox) -> AsyncIterator[dict[str, Any]]:
    async with smtp_server(inbox) as port:
        yield {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none", "report_email_to": ["team@ion.dev"]}


@asynccontextmanager
async def process(database: Path, clock: VirtualClock, mail: dict[str, Any]) -> AsyncIterator[tuple[Bot, Runtime]]:
    """One bot process on the shared database: its bot and its started runtime, stopped at the end."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}", runbook=RUNBOOK, cloud="sim", **mail)
    bot = await build(settings, clock=clock, run_start=MONDAY)
    runtime = Runtime(bot, RecordingPoster(clock), watch_every=WATCH_EVERY)
    try:
        yield bot, runtime
    finally:
        await runtime.stop()
        await bot.close()


def notes(runtime: Runtime, run_id: str) -> list[str]:
    poster = runtime.poster
    assert isinstance(poster, RecordingPoster)
    return [p.text for p in poster.keyed(f"reply:daily_report:{run_id}:1")]


async def test_a_retry_pending_when_the_process_stops_is_sent_once_by_the_next_process(tmp_path: Path) -> None:
    inbox = Inbox(refuse_first=3)  # the whole first round
    async with mail_server(inbox) as mail:
        async with process(tmp_path / "ion.db", VirtualClock(utc(chicago(MONDAY, 16))), mail) as (bot, runtime):
            run = await start_and_pass_preflight(bot)
            await runtime.start()
            await runtime.run_due(utc(chicago(MONDAY, 17, 1)))
            first = notes(runtime, run.id)
        assert inbox.messages == [] and inbox.refused == 3
        async with process(tmp_path / "ion.db", VirtualClock(utc(chicago(MONDAY, 17, 2))), mail) as (_, restarted):
            await restarted.start()
            await restarted.run_due(utc(chicago(MONDAY, 17, 31)))
            await restarted.run_due(utc(chicago(MONDAY, 19, 1)))  # later ticks send nothing more
            after = notes(restarted, run.id)
    [warning] = first
    assert warning.endswith(f"{BUSY}. It is tried again in 5 minutes, up to 3 more rounds.")
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"] == "Week 17 Day 1 Report"
    assert after == [":email: The email of this report was sent to team@ion.dev after all."]


async def test_two_replicas_retrying_at_the_same_tick_send_the_email_once(tmp_path: Path) -> None:
    inbox = Inbox(refuse_first=3)
    clocks = [VirtualClock(utc(chicago(MONDAY, 17))) for _ in range(2)]
    async with (
        mail_server(inbox) as mail,
        process(tmp_path / "ion.db", clocks[0], mail) as (bot, first),
        process(tmp_path / "ion.db", clocks[1], mail) as (_, second),
    ):
        run = await start_and_pass_preflight(bot)
        await first.jobs.post_daily_report(run.id, 1, False)
        assert inbox.messages == []
        for clock in clocks:
            await clock.advance(timedelta(minutes=6))
        await asyncio.gather(first.jobs.retry_emails(), second.jobs.retry_emails())
        await asyncio.gather(first.jobs.retry_emails(), second.jobs.retry_emails())
        said = notes(first, run.id) + notes(second, run.id)
    assert len(inbox.messages) == 1 and inbox.refused == 3
    assert said.count(":email: The email of this report was sent to team@ion.dev after all.") == 1


async def test_after_the_last_round_the_report_thread_says_it_gave_up_and_nothing_is_tried_again(
    tmp_path: Path,
) -> None:
    inbox = Inbox(refuse_first=100)
    async with (
        mail_server(inbox) as mail,
        process(tmp_path / "ion.db", VirtualClock(utc(chicago(MONDAY, 16))), mail) as (bot, runtime),
    ):
        run = await start_and_pass_preflight(bot)
        await runtime.start()
        await runtime.run_due(utc(chicago(MONDAY, 19, 1)))  # the first round and three retries
        assert inbox.refused == 12
        await runtime.run_due(utc(chicago(MONDAY, 22, 1)))
        said = notes(runtime, run.id)
        still_due = await bot.store.due_emails(utc(chicago(MONDAY, 23)))
    assert inbox.refused == 12 and inbox.messages == []
    assert still_due == []
    assert len(said) == 2
    assert said[1].startswith(":warning: The email of this report to team@ion.dev was not delivered: 12 attempts ")
    assert said[1].endswith("Gave up; forward this report by hand.")
