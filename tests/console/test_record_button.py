"""Through the console (the real Bolt listeners): the daily report's Record button for a quality target
nobody has recorded yet opens a dialog that records it exactly as `/ion record` does (issue 16)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.session import SessionOptions
from bot.reports.facts import facts_key
from tests.console.test_console_session import DAY2_MORNING, PREFLIGHT, calls, notes, say


@pytest.fixture
async def session() -> AsyncIterator[ConsoleSession]:
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING, watch_every=10)) as started:
        yield started


def record_buttons(session: ConsoleSession) -> list[str]:
    """The Record buttons on the newest report posted to the channel."""
    reports = [c for c in calls(session, "chat.postMessage") if "Report" in str(c.get("text", ""))]
    blocks = reports[-1].get("blocks") or []
    assert isinstance(blocks, list)
    return [
        str(element["text"]["text"])
        for block in blocks
        for element in block.get("elements") or []
        if str(element.get("action_id", "")).startswith("ion:record:")
    ]


def channel_says(session: ConsoleSession) -> str:
    return html.unescape(str(calls(session, "chat.postMessage")[-1].get("text", "")))


async def test_the_record_button_asks_for_a_verdict_and_records_it_like_the_command(session: ConsoleSession) -> None:
    await say(session, *PREFLIGHT, "as sam", "/ion report")
    assert record_buttons(session) == ["Record: Zero data loss", "Record: All tests passing"]

    await say(session, "click Record: Zero data loss")
    assert calls(session, "views.open")[-1]["view"]["callback_id"] == "ion:record"  # type: ignore[index]
    refused = notes(await say(session, "type maybe"))
    assert refused == [
        "The dialog is still open: Start with yes or no (or pass / fail), then a note if you like; "
        "nothing was recorded."
    ]
    await say(session, "type yes restore drill clean")
    assert channel_says(session) == (
        "Recorded 'Zero data loss': holds, by sam (restore drill clean). The next report shows it."
    )

    run = await session.bot.store.open_run(session.channel)
    assert run is not None
    [fact] = await session.bot.store.get_value(facts_key(run.id))  # type: ignore[misc]
    assert fact["label"] == "Zero data loss" and fact["by"] == "sam" and fact["passed"] is True  # type: ignore[index]
    audit = await session.bot.store.audit(run.id)
    recorded = [(e.actor_name, e.detail) for e in audit if e.what == "record quality"]
    assert recorded == [("sam", "Zero data loss: holds (restore drill clean)")]

    await say(session, "advance 1m", "/ion report")
    assert record_buttons(session) == ["Record: All tests passing"]
