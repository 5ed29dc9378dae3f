"""Through the console (the real Bolt listeners): the Done button and its value dialog on a waiting
manual action (issue 15), and what tick and waive answer (issue 17, items 8 and 9)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.session import SessionOptions
from bot.engine import manual
from bot.engine.records import StepState
from tests.console.test_console_session import DAY2_MORNING, PREFLIGHT, calls, lane, say


@pytest.fixture
async def session() -> AsyncIterator[ConsoleSession]:
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING, watch_every=10)) as started:
        yield started


def private(session: ConsoleSession) -> str:
    """The newest message only its reader sees, as its reader reads it (Slack's escapes undone)."""
    return html.unescape(str(calls(session, "chat.postEphemeral")[-1].get("text", "")))


async def test_tick_on_a_gate_before_its_card_is_posted_answers_and_says_how_to_post_it(
    session: ConsoleSession,
) -> None:
    await say(session, "/ion start week17 2026-11-02", "/ion tick preflight team-trained")
    assert private(session) == (
        "Ticked team-trained of preflight: 1 of 13 ticked or waived. "
        "Its Go/No-Go card is not posted yet; /ion gonogo preflight posts it."
    )


async def test_a_wrong_item_lists_the_numbers_and_ids_the_card_shows(session: ConsoleSession) -> None:
    await say(session, "/ion start week17 2026-11-02", "/ion tick day2.2 9")
    assert private(session) == (
        "day2.2 has no checklist item 9; its items are 1 response-under-50ms, 2 no-errors "
        "(a number or an id). Nothing was ticked."
    )


async def test_tick_by_the_card_s_number_names_that_item_and_says_when_it_is_due(session: ConsoleSession) -> None:
    await say(session, "/ion start week17 2026-11-02", "/ion tick day2.2 1")
    said = private(session)
    assert said.startswith("'Verify response time < 50ms' (day2.2, Testing: quick smoke test (10 minutes))")
    assert "is not due until the production change has landed" in said


async def test_waive_by_number_says_waived_and_a_wrong_item_says_nothing_was_waived(session: ConsoleSession) -> None:
    await say(session, "/ion start week17 2026-11-02", "/ion waive day2.2 1 smoke test checked by hand")
    assert private(session) == "Waived 1 (response-under-50ms) of day2.2: 1 of 2 ticked or waived."
    await say(session, "/ion waive day2.2 nope because")
    assert private(session).endswith("(a number or an id). Nothing was waived.")


async def test_the_done_button_asks_for_the_value_and_a_passing_one_carries_the_lane_on(
    session: ConsoleSession,
) -> None:
    await say(session, *PREFLIGHT, "as dana", "/ion run day3.1 staging", "/ion step day3.1")
    assert await lane(session, "day3.1", "staging") is StepState.WAITING
    await say(session, "click Done: Run cache benchmark")
    assert calls(session, "views.open")[-1]["view"]["callback_id"] == "ion:done"  # type: ignore[index]
    await say(session, "type 60%")
    assert "'l1_hit_pct > 65' does not hold, so the lane does not proceed" in private(session)
    assert await lane(session, "day3.1", "staging") is StepState.WAITING
    await say(session, "click Done: Run cache benchmark", "type 70%")
    assert "'Run cache benchmark' done by dana 70%" in private(session)
    await say(session, "/ion done day3.1 memory-check 0.8 MB", "advance 35m")
    assert await lane(session, "day3.1", "staging") is StepState.DONE
    run = await session.bot.store.open_run(session.channel)
    assert run is not None
    staging = await session.bot.store.get_lane(run.id, "day3.1", "staging")
    assert staging is not None and staging.last_execution_id is not None
    records = await session.bot.store.targets(staging.last_execution_id)
    benchmark = next(r for r in records if r.action_index == 1)
    assert [(e.name, e.text, e.passed) for e in manual.entries(benchmark)] == [
        ("dana", "60%", False),
        ("dana", "70%", True),
    ]
