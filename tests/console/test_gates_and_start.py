"""Gates that can be got past honestly, the commands the bot's messages name, and Day 1 on its weekday.

Each test drives the console (the real Bolt app, the sim world, a virtual clock) line by line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.input_lines import parse_console_line
from bot.console.session import Note, Output, SessionOptions
from bot.engine.records import AuditEntry
from tests.console.backtested import backtested_clean

CHICAGO = ZoneInfo("America/Chicago")
MONDAY_MORNING = datetime(2026, 11, 2, 8, 55, tzinfo=CHICAGO)
LAG = "db_replication_lag_ms 500 from day1 08:00 for 3h"
ALL_ITEMS = "tick 1 2 3 4 5 6 7 8 9 10 11 12 13"


async def say(session: ConsoleSession, *lines: str) -> list[Output]:
    outputs: list[Output] = []
    for line in lines:
        outputs += (await session.send(parse_console_line(line))).outputs
    return outputs


def seen(outputs: list[Output]) -> str:
    """Everything the lines made visible: the console's notes and the bot's messages, as text (with
    Slack's escapes of <, > and & undone)."""
    text = "\n".join(o.text if isinstance(o, Note) else json.dumps(o.payload, ensure_ascii=False) for o in outputs)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def audit(session: ConsoleSession, what: str) -> list[AuditEntry]:
    return [e for e in await session.bot.store.audit() if e.what == what]


@pytest.fixture
async def lagging() -> AsyncIterator[ConsoleSession]:
    """Monday of the run, with the replica lag above the preflight's 100 ms until 11:00 (and a clean
    backtest of the day before, so the lag is the one check these tests are about)."""
    async with ConsoleSession(
        SessionOptions(start=MONDAY_MORNING, faults=(LAG,), run_start=MONDAY_MORNING.date())
    ) as s:
        await backtested_clean(s)
        yield s


class TestAFailingHealthCheckCanBeGotPast:
    async def test_yes_is_refused_with_the_commands_that_exist_to_recheck_or_override(
        self, lagging: ConsoleSession
    ) -> None:
        said = seen(await say(lagging, "/ion start week17 2026-11-02", "/ion gonogo", ALL_ITEMS, "click YES"))
        assert "health check 'Database lag < 100ms (all regions)' is failing" in said
        assert "press Re-check on the card" in said and "/ion override preflight CHECK REASON" in said
        record = await lagging.bot.store.get_gate((await lagging.bot.store.open_runs())[0].id, "preflight")
        assert record is not None and record.decision is None

    async def test_an_override_by_a_member_is_refused_and_by_the_lead_is_audited_and_shown_on_the_card(
        self, lagging: ConsoleSession
    ) -> None:
        await say(lagging, "/ion start week17 2026-11-02", "/ion gonogo", ALL_ITEMS)
        refused = seen(await say(lagging, "as dana", "/ion override preflight 5 the lag is a replica rebuild"))
        assert "dana may not decide a Go/No-Go: that needs the role lead or manager" in refused
        shown = seen(await say(lagging, "as lee", "/ion override preflight 5 the lag is a replica rebuild"))
        assert "overridden by lee: the lag is a replica rebuild" in shown
        [entry] = await audit(lagging, "gate check overridden")
        assert (entry.actor_name, entry.after, entry.detail) == (
            "lee",
            "Database lag < 100ms (all regions)",
            "the lag is a replica rebuild",
        )
        await say(lagging, "as maria", "click Sign off as manager", "as sam", "click Sign off as sre_oncall")
        decided = seen(await say(lagging, "as lee", "click Sign off as lead", "click YES"))
        assert "Decision: YES" in decided

    async def test_an_override_names_its_check_by_number_or_words_and_refuses_a_passing_one(
        self, lagging: ConsoleSession
    ) -> None:
        await say(lagging, "/ion start week17 2026-11-02", "/ion gonogo")
        passing = seen(await say(lagging, "/ion override preflight 2 no reason to"))
        assert "'Error rate < 0.5% (last 24h)' of preflight passes; there is nothing to override" in passing
        unknown = seen(await say(lagging, "/ion override preflight latency-budget because"))
        assert "matches none of the health checks of preflight; name one by its number: 1 = " in unknown
        words = seen(await say(lagging, "/ion override preflight database-lag replica rebuild"))
        assert "overridden by lee: replica rebuild" in words

    async def test_recheck_measures_again_and_a_lag_that_ended_lets_yes_through(self, lagging: ConsoleSession) -> None:
        await say(lagging, "/ion start week17 2026-11-02", "/ion gonogo", ALL_ITEMS)
        still = seen(await say(lagging, "click Re-check"))
        assert "preflight re-checked: still not passing: Database lag < 100ms (all regions)" in still
        checks = len(await audit(lagging, "gate health checked"))
        await say(lagging, "advance to day1 11:10")
        cleared = seen(await say(lagging, "/ion gate preflight", "click Re-check"))
        assert "preflight re-checked: every health check passes" in cleared
        assert len(await audit(lagging, "gate health checked")) == checks + 1
        await say(lagging, "as maria", "click Sign off as manager", "as sam", "click Sign off as sre_oncall")
        yes = seen(await say(lagging, "as lee", "click Sign off as lead", "click YES"))
        assert "Decision: YES" in yes


class TestEveryCommandAMessageNamesExists:
    async def test_a_step_before_the_go_no_go_points_to_ion_gate_which_posts_the_gate_card(
        self, lagging: ConsoleSession
    ) -> None:
        refused = seen(await say(lagging, "/ion start week17 2026-11-02", "/ion run day2.1 staging"))
        assert "see /ion gate preflight" in refused
        card = seen(await say(lagging, "/ion gate preflight"))
        assert "Go/No-Go" in card and "Re-check" in card and "Unknown command" not in card

    async def test_status_lists_the_steps_and_gates_whose_time_has_passed(self) -> None:
        tuesday = datetime(2026, 11, 3, 9, 30, tzinfo=CHICAGO)
        async with ConsoleSession(SessionOptions(start=tuesday, run_start=MONDAY_MORNING.date())) as session:
            status = seen(await say(session, "/ion start week17 2026-11-02", "/ion status"))
        assert "Overdue (5)" in status
        for late in ("preflight", "day1.1", "day1.2", "day1.3", "day1.4"):
            assert f"*{late}*" in status
        assert "undecided" in status and "production pending" in status


class TestDayOneFallsOnItsWeekday:
    @staticmethod
    async def started(session: ConsoleSession) -> list[str]:
        return [str(e.detail) for e in await audit(session, "start run") if e.outcome == "ok"]

    @pytest.mark.parametrize(
        ("now", "asked"),
        [
            (datetime(2026, 10, 30, 10, 0, tzinfo=CHICAGO), "2026-11-01"),  # a Sunday
            (datetime(2026, 10, 30, 10, 0, tzinfo=CHICAGO), "saturday"),
            (datetime(2026, 10, 30, 10, 0, tzinfo=CHICAGO), "tomorrow"),  # on a Friday
        ],
    )
    async def test_a_weekend_start_says_day_1_would_be_monday_and_starts_nothing(
        self, now: datetime, asked: str
    ) -> None:
        async with ConsoleSession(SessionOptions(start=now)) as session:
            said = seen(await say(session, f"/ion start week17 {asked}"))
            assert "is not a working day of week17" in said
            assert "Day 1 would be Mon 02 Nov" in said and "/ion start week17 2026-11-02" in said
            assert await session.bot.store.open_runs() == []
            public = seen(await say(session, "/ion start week17 2026-11-02"))
            assert await self.started(session) == ["Day 1 = 2026-11-02"]
        assert "started by lee; Day 1 is Mon 02 Nov." in public  # the channel's line
        assert "started; Day 1 is Mon 02 Nov." in public  # the private answer agrees
        assert "Sun 01 Nov" not in public

    async def test_a_midweek_start_asks_for_shift_and_with_it_says_which_days_moved(self) -> None:
        async with ConsoleSession(SessionOptions(start=datetime(2026, 11, 3, 10, 0, tzinfo=CHICAGO))) as session:
            said = seen(await say(session, "/ion start week17 2026-11-04"))
            assert "week17 puts Day 1 on a Monday (weekday: mon)" in said
            assert "start on Mon 09 Nov with /ion start week17 2026-11-09" in said
            assert "keep Wed 04 Nov with /ion start week17 2026-11-04 --shift" in said
            assert await session.bot.store.open_runs() == []
            shifted = seen(await say(session, "/ion start week17 2026-11-04 --shift"))
            [detail] = await self.started(session)
        assert "Day 1 is Wed 04 Nov" in shifted and "shifted off the runbook's weekdays" in shifted
        assert detail.startswith("Day 1 = 2026-11-04; shifted off the runbook's weekdays: Day 1 (Monday) on Wed 04 Nov")
