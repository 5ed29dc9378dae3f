"""The console drives the real Bolt app with Slack-shaped payloads; these walk it line by line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.feed import Entry
from bot.console.input_lines import parse_console_line
from bot.console.session import Note, Output, SessionOptions
from bot.engine.records import StepState

CHICAGO = ZoneInfo("America/Chicago")
DAY2_MORNING = datetime(2026, 11, 3, 8, 50, tzinfo=CHICAGO)  # the run starts Mon 2 Nov: this is day 2
PREFLIGHT = [
    "/ion start week17 2026-11-02",
    "/ion gonogo preflight",
    "tick 1 2 3 4 5 6 7 8 9 10 11 12 13",
    "/ion override preflight 6 the triggers were reviewed by hand this morning",  # no backtest here
    "as maria",
    "click Sign off as manager",
    "as sam",
    "click Sign off as sre_oncall",
    "as lee",
    "click Sign off as lead",
    "click YES",
]


@pytest.fixture
async def session() -> AsyncIterator[ConsoleSession]:
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING, watch_every=10)) as started:
        yield started


async def say(session: ConsoleSession, *lines: str) -> list[Output]:
    outputs: list[Output] = []
    for line in lines:
        outputs += (await session.send(parse_console_line(line))).outputs
    return outputs


def notes(outputs: list[Output]) -> list[str]:
    return [o.text for o in outputs if isinstance(o, Note)]


def calls(session: ConsoleSession, method: str) -> list[dict[str, object]]:
    return session.api.calls(method)


async def lane(session: ConsoleSession, step: str, env: str) -> StepState:
    run = await session.bot.store.open_run(session.channel)
    assert run is not None
    found = await session.bot.store.get_lane(run.id, step, env)
    return found.state if found else StepState.PENDING


def us_production(session: ConsoleSession) -> dict[str, object]:
    assert session.bot.sim is not None
    config = session.bot.sim.world.get_service("ion-mentoring", "us-central1", "ion-mentoring-api")
    return {k: v for k, v in asdict(config).items() if k not in ("etag", "latest_revision")}


class TestDay21FromCardToRollback:
    async def test_walks_day2_1_through_approval_staging_production_and_rollback_restoring_the_config(
        self, session: ConsoleSession
    ) -> None:
        await say(session, *PREFLIGHT)
        before = us_production(session)
        await say(session, "/ion step day2.1", "as maria", "click Approve", "as sam", "click Approve")
        await say(session, "as dana", "click Run on staging", "advance 35m", "tick 1 2 3")
        assert await lane(session, "day2.1", "staging") is StepState.DONE
        await say(session, "as maria", "click Approve", "as sam", "click Approve", "as lee", "click Run on production")
        opened = calls(session, "views.open")
        assert opened and opened[-1]["view"]["callback_id"] == "ion:confirm_run"  # type: ignore[index]
        await say(session, "type ion-mentoring-api", "advance 35m", "tick 4 5 6 7")
        assert await lane(session, "day2.1", "production") is StepState.DONE
        assert us_production(session)["min_instances"] == 2

        await say(session, "/ion rollback day2.1")
        assert calls(session, "views.open")[-1]["view"]["callback_id"] == "ion:confirm_rollback"  # type: ignore[index]
        await say(session, "type ion-mentoring-api")

        assert await lane(session, "day2.1", "production") is StepState.ROLLED_BACK
        assert us_production(session) == before
        posted = " ".join(str(c.get("text", "")) for c in calls(session, "chat.postMessage"))
        assert "day2.1 (production) rolled back" in posted
        assert any(c.get("ts") for c in calls(session, "chat.update"))


class TestConsoleLines:
    async def test_an_unknown_line_gets_a_short_help_and_sends_nothing(self, session: ConsoleSession) -> None:
        before = len(session.api.recorded)
        said = notes(await say(session, "deploy everything"))
        assert said and "I don't know 'deploy'" in said[0] and "/ion help" in said[0]
        assert len(session.api.recorded) == before

    async def test_help_lists_the_console_commands(self, session: ConsoleSession) -> None:
        assert "click LABEL" in notes(await say(session, "help"))[0]

    async def test_as_switches_who_types_and_refuses_a_stranger(self, session: ConsoleSession) -> None:
        assert notes(await say(session, "as dana")) == ["Now typing as dana (member)."]
        assert session.user.name == "dana"
        refused = notes(await say(session, "as zed"))[0]
        assert "no demo team member 'zed'" in refused and session.user.name == "dana"
        await say(session, "/ion start week17 2026-11-02")
        assert "dana may not" in str(calls(session, "chat.postEphemeral")[-1]["text"])

    async def test_click_at_n_presses_the_button_of_an_older_card(self, session: ConsoleSession) -> None:
        await say(session, "/ion start week17 2026-11-02", "/ion step day2.1", "/ion step day2.2")
        older = next(c for c in session.feed.cards if "day2.1" in str(c.payload.get("text", "")) and c.elements.buttons)
        await say(session, "as maria", f"click Approve @{older.number}")
        run = await session.bot.store.open_run(session.channel)
        assert run is not None
        assert [a.name for a in await session.bot.store.approvals(run.id, "day2.1", "staging")] == ["maria"]
        assert await session.bot.store.approvals(run.id, "day2.2", "production") == []
        missing = notes(await say(session, "click Approve @999"))[0]
        assert "There is no card @999 (cards so far are @1 to @" in missing

    async def test_tick_sends_the_new_selection_and_a_second_tick_unticks(self, session: ConsoleSession) -> None:
        await say(session, "/ion start week17 2026-11-02", "/ion gonogo", "tick 2")
        action = self._last_checkbox_action(session)
        selected = action["selected_options"]
        assert isinstance(selected, list)
        assert [o["value"] for o in selected] == [
            session.feed.newest_with_checkboxes().elements.checkboxes[1].option["value"]  # type: ignore[union-attr]
        ]
        run = await session.bot.store.open_run(session.channel)
        assert run is not None
        assert [t.item_id for t in await session.bot.store.ticks(run.id, "preflight")] == ["oncall-ready"]
        await say(session, "tick 2")
        assert await session.bot.store.ticks(run.id, "preflight") == []
        assert "there is no box 99" in notes(await say(session, "tick 99"))[0]

    @staticmethod
    def _last_checkbox_action(session: ConsoleSession) -> dict[str, object]:
        # The console keeps the payload it sent; the card it came from is the newest checklist.
        card = session.feed.newest_with_checkboxes()
        assert card is not None
        sent = session.last_actions
        assert sent and sent[-1]["type"] == "checkboxes"
        return sent[-1]

    async def test_type_answers_the_open_dialog_and_keeps_it_open_on_a_wrong_answer(
        self, session: ConsoleSession
    ) -> None:
        assert "No dialog is open" in notes(await say(session, "type anything"))[0]
        await say(session, *PREFLIGHT)
        await say(session, "/ion step day2.1", "as maria", "click Approve", "as sam", "click Approve")
        await say(session, "as dana", "click Run on staging", "advance 35m", "tick 1 2 3")
        await say(session, "as maria", "click Approve", "as sam", "click Approve", "as lee", "click Run on production")
        wrong = notes(await say(session, "type the-wrong-service"))
        assert wrong and wrong[0].startswith("The dialog is still open: Type ion-mentoring-api exactly")
        assert await lane(session, "day2.1", "production") is not StepState.RUNNING
        shown = await say(session, "type ion-mentoring-api")
        assert any(isinstance(o, Entry) and o.method == "chat.update" for o in shown)
        assert await lane(session, "day2.1", "production") in (StepState.RUNNING, StepState.VERIFYING)

    async def test_advance_refuses_the_past_and_moves_the_clock_forward(self, session: ConsoleSession) -> None:
        await say(session, "/ion start week17 2026-11-02")
        assert "That time has passed" in notes(await say(session, "advance to day1 09:00"))[0]
        said = notes(await say(session, "advance 2h"))
        assert said[-1].startswith("It is now Tue 03 Nov 10:50")


class TestReportsInTheConsole:
    async def test_ion_report_1_posts_the_day_1_report_with_its_chart_path(self, session: ConsoleSession) -> None:
        await say(session, "/ion start week17 2026-11-02")
        shown = await say(session, "/ion report 1")
        posted = [o for o in shown if isinstance(o, Entry) and o.method == "chat.postMessage"]
        assert posted, notes(shown)
        text = str(posted[-1].payload.get("text", ""))
        assert "Week 17 Day 1 Report" in text and "Issues/Blockers" in text
        chart = next(word for word in text.split() if word.endswith(".png") or ".png" in word)
        assert "day1-metrics.png" in chart

    async def test_the_5_pm_report_posts_itself_when_the_clock_passes_17_00(self, session: ConsoleSession) -> None:
        await say(session, "/ion start week17 2026-11-02")
        said = notes(await say(session, "advance to day2 17:05"))
        assert "daily_report" in said[-1]
        kinds = {fired.due.job.kind for fired, entries in session.job_log if entries}
        assert "daily_report" in kinds


class TestRecoveryOnStart:
    async def test_an_execution_left_running_by_a_stopped_console_is_reconciled_and_said(self, tmp_path: Path) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'ion.db'}"
        async with ConsoleSession(SessionOptions(start=DAY2_MORNING, watch_every=10, database_url=url)) as first:
            await say(first, *PREFLIGHT)
            await say(first, "/ion step day2.1", "tick 1 2 3 4", "as maria", "click Approve", "as sam", "click Approve")
            await say(first, "as dana", "click Run on staging")
            assert await lane(first, "day2.1", "staging") in (StepState.RUNNING, StepState.VERIFYING)
        later = DAY2_MORNING + timedelta(hours=2)  # long past the stopped console's lease
        async with ConsoleSession(SessionOptions(start=later, watch_every=10, database_url=url)) as second:
            said = [n.text for n in second.started]
            assert said and said[0].startswith("Reconciled an interrupted execution")
            assert await lane(second, "day2.1", "staging") is not StepState.RUNNING


async def test_a_card_drawn_after_the_local_timeline_is_served_links_to_its_step_page() -> None:
    from bot.console.timeline import local_timeline

    options = SessionOptions(start=DAY2_MORNING, watch_every=10)
    async with ConsoleSession(options) as session, local_timeline(session, 0) as note:
        assert "127.0.0.1" in note.text
        await say(session, *PREFLIGHT, "/ion step day2.1")
        cards = [c for c in calls(session, "chat.postMessage") if "/steps/day2.1" in str(c.get("blocks"))]
        assert cards, "the step card links to its page"
        assert f"{note.text.split()[-1].removesuffix('/runs')}/runs/" in str(cards[-1].get("blocks"))


async def test_the_status_and_gate_cards_link_to_the_runs_timeline() -> None:
    from bot.console.timeline import local_timeline

    options = SessionOptions(start=DAY2_MORNING, watch_every=10)
    async with ConsoleSession(options) as session, local_timeline(session, 0) as note:
        base = note.text.split()[-1].removesuffix("/runs")
        await say(session, *PREFLIGHT, "/ion status", "/ion gate gonogo.day3")
        posted = [str(c.get("blocks")) for c in calls(session, "chat.postMessage") + calls(session, "chat.update")]
        linked = [b for b in posted if f"<{base}/runs/" in b and "|Timeline of this run>" in b]
        assert len(linked) >= 2, "the status card and the gate card each end with the run's timeline"
