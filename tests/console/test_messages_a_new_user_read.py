"""Issue 17's words: what a new user read in the console after a rollback and an approval, said once and plainly."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.input_lines import parse_console_line
from bot.console.render import render_text
from bot.console.session import Output, SessionOptions
from bot.engine.records import StepState
from tests.console.test_console_session import PREFLIGHT, lane

CHICAGO = ZoneInfo("America/Chicago")
DAY2_MORNING = datetime(2026, 11, 3, 8, 50, tzinfo=CHICAGO)
FAULT = "error_rate_pct 2.5 after day2.1 for 10m"
DAY21_TO_PRODUCTION = [
    "as maria",
    "/ion approve day2.1 staging",
    "/ion approve day2.1 production",
    "as sam",
    "/ion approve day2.1 staging",
    "/ion approve day2.1 production",
    "as lee",
    "/ion run day2.1 staging",
    "advance 40m",
    "/ion step day2.1",
    "tick 1 2 3",  # staging's "Monitor results": due once staging landed, and what lets production run
    "/ion run day2.1 production",
    "type ion-mentoring-api",
]


@pytest.fixture
async def faulted() -> AsyncIterator[ConsoleSession]:
    options = SessionOptions(start=DAY2_MORNING, faults=(FAULT,), run_start=date(2026, 11, 2))
    async with ConsoleSession(options) as started:
        yield started


async def say(session: ConsoleSession, *lines: str) -> list[Output]:
    outputs: list[Output] = []
    for line in lines:
        outputs += (await session.send(parse_console_line(line))).outputs
    return outputs


def posted_texts(session: ConsoleSession) -> list[str]:
    return [render_text(c) for c in session.api.calls("chat.postMessage")]


def every_text(session: ConsoleSession) -> list[str]:
    return [render_text(c) for m in ("chat.postMessage", "chat.update") for c in session.api.calls(m)]


async def test_after_an_automatic_rollback_the_rolled_back_line_is_posted_once_and_progress_names_the_environment(
    faulted: ConsoleSession,
) -> None:
    await say(faulted, *PREFLIGHT, *DAY21_TO_PRODUCTION, "advance 40m")
    assert await lane(faulted, "day2.1", "production") is StepState.ROLLED_BACK
    rolled = [t for t in posted_texts(faulted) if "rolled back: 1 target(s) restored" in t]
    assert len(rolled) == 1, rolled
    progress_titles = [t.splitlines()[0] for t in every_text(faulted) if re.match(r"(Rolling back|Rolled back): ", t)]
    assert progress_titles and all(t.endswith((" on production", " on staging")) for t in progress_titles)


async def test_a_scale_step_names_its_target_once_per_progress_line(faulted: ConsoleSession) -> None:
    await say(faulted, *PREFLIGHT, *DAY21_TO_PRODUCTION)
    label = "ion-mentoring-api us-central1 (staging)"
    lines = [line for text in every_text(faulted) for line in text.splitlines()]
    assert any(f"{label}: minInstances 3 -> 2" in line for line in lines)
    assert not any(f"{label}: {label}" in line for line in lines)


async def test_the_last_approval_says_the_step_is_now_approved_not_it_approved(faulted: ConsoleSession) -> None:
    said = await say(faulted, "/ion start week17 2026-11-02", "as maria", "/ion approve day2.1 staging")
    first = " ".join(render_text(o.payload) for o in said if hasattr(o, "payload"))
    assert "is recorded; it still needs 1 x sre_oncall." in first
    said = await say(faulted, "as sam", "/ion approve day2.1 staging")
    second = " ".join(render_text(o.payload) for o in said if hasattr(o, "payload"))
    assert "Your approval of day2.1 (staging) is recorded; it is now approved and can be run." in second
    assert "it approved" not in second


@pytest.fixture
async def session() -> AsyncIterator[ConsoleSession]:
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING, run_start=date(2026, 11, 2))) as started:
        yield started


async def test_a_second_incident_while_one_is_open_is_posted_in_the_alerts_thread_and_says_so(
    session: ConsoleSession,
) -> None:
    await say(session, "/ion start week17 2026-11-02", "/ion incident checkout errors for EU users")
    alert_posts = [c for c in session.api.calls("chat.postMessage") if "incident" in render_text(c).lower()]
    assert alert_posts
    said = await say(session, "as sam", "/ion incident EU checkout still failing after retry")
    reply = " ".join(render_text(o.payload) for o in said if hasattr(o, "payload"))
    assert "is already open, so no new alert was raised" in reply and "posted in its thread" in reply
    assert "on-call has been alerted" not in reply
    alert_ts = next(
        ts for (_, ts), posted in session.api.messages.items() if "Incident: Production incident" in render_text(posted)
    )
    added = [
        c
        for c in session.api.calls("chat.postMessage")
        if "Also declared by sam: EU checkout still failing after retry" in render_text(c)
    ]
    assert [c.get("thread_ts") for c in added] == [alert_ts]


async def test_rolling_back_an_unknown_step_opens_no_dialog_and_says_the_error_once(session: ConsoleSession) -> None:
    await say(session, "/ion start week17 2026-11-02")
    before = len(session.api.recorded)
    await say(session, "/ion rollback day9.9")
    new = session.api.recorded[before:]
    assert not [c for c in new if c.method.startswith("views.")]
    errors = [c for c in new if "day9.9" in render_text(c.payload)]
    assert len(errors) == 1, [render_text(c.payload) for c in errors]


async def test_the_gate_confirm_prompt_reads_without_slack_stars_and_the_yes_button_is_not_cut(
    session: ConsoleSession,
) -> None:
    await say(session, "/ion start week17 2026-11-02", "/ion gonogo preflight")
    gate = session.feed.newest_with_button("YES", None)
    assert gate is not None
    labels = [b.label for b in gate.elements.buttons]
    assert "YES - Proceed with Week 17 implementation" in labels and not any(label.endswith("…") for label in labels)
    said = [o.text for o in await say(session, "click YES - Proceed with Week 17 implementation") if hasattr(o, "text")]
    prompt = next(text for text in said if text.startswith("Decide YES?"))
    assert "Record YES for Pre-Implementation Go/No-Go" in prompt and "*" not in prompt


async def test_ion_audit_shows_times_in_the_runs_zone_like_the_console_and_names_it(session: ConsoleSession) -> None:
    said = await say(session, "/ion start week17 2026-11-02", "/ion audit 5")
    audit = [
        render_text(o.payload) for o in said if hasattr(o, "payload") and "audit entries" in render_text(o.payload)
    ]
    assert audit and audit[-1].startswith("The newest ") and "(times in America/Chicago):" in audit[-1]
    assert "2026-11-03 08:50 lee: start run" in audit[-1]  # 14:50 UTC, shown at the console's 08:50


async def test_a_refusal_naming_a_command_shows_it_in_real_backticks_not_look_alikes(session: ConsoleSession) -> None:
    said = await say(session, "/ion start week17 2026-11-02", "/ion report 9")
    refusal = [c for c in session.api.calls("chat.postEphemeral") if "Day 9" in str(c.get("text"))]
    assert refusal and "`/ion report` shows Day 2 so far." in str(refusal[-1]["text"])
    assert "\u02cb" not in str(refusal[-1]["text"]) and said
