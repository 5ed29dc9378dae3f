"""Issue 17 item 19: `click` on a card number that is not there, on a card without buttons, and a dialog's [Close]."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.input_lines import parse_console_line
from bot.console.session import Note, SessionOptions

DAY2_MORNING = datetime(2026, 11, 3, 8, 50, tzinfo=ZoneInfo("America/Chicago"))


@pytest.fixture
async def session() -> AsyncIterator[ConsoleSession]:
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING)) as started:
        yield started


async def notes(session: ConsoleSession, line: str) -> list[str]:
    return [o.text for o in (await session.send(parse_console_line(line))).outputs if isinstance(o, Note)]


async def test_click_approve_at_99_says_there_is_no_card_99_and_how_far_the_cards_go(session: ConsoleSession) -> None:
    await notes(session, "/ion start week17 2026-11-02")
    await notes(session, "/ion step day2.1")
    said = await notes(session, "click Approve @99")
    count = len(session.feed.cards)
    assert said == [f"There is no card @99 (cards so far are @1 to @{count}); nothing was pressed."]


async def test_click_approve_at_1_says_card_1_has_no_buttons_not_that_no_card_has_any(session: ConsoleSession) -> None:
    await notes(session, "/ion start week17 2026-11-02")
    await notes(session, "/ion step day2.1")
    assert not session.feed.cards[0].elements.buttons
    said = (await notes(session, "click Approve @1"))[0]
    assert "Card @1 has no buttons." in said and "No card has buttons yet" not in said


async def test_click_approve_on_a_card_with_other_buttons_lists_that_cards_buttons(session: ConsoleSession) -> None:
    await notes(session, "/ion start week17 2026-11-02")
    await notes(session, "/ion step day2.1")
    card = next(c for c in session.feed.cards if c.elements.buttons)
    said = (await notes(session, f"click Frobnicate @{card.number}"))[0]
    assert f"Buttons on card @{card.number}: " in said and "Approve" in said


async def test_a_dialogs_close_button_can_be_clicked_and_closes_it(session: ConsoleSession) -> None:
    await notes(session, "/ion start week17 2026-11-02")
    await notes(session, "/ion rollback last")  # nothing to roll back: the dialog only says so, with [Close]
    view = session.actions.open_dialog()
    assert view is not None
    close = str((view.get("close") or {}).get("text"))
    assert await notes(session, f"click {close}") == [f"[{close}]: the dialog is closed; nothing was sent."]
    assert session.actions.open_dialog() is None
    assert (await notes(session, "type ion-mentoring-api"))[0].startswith("No dialog is open")
