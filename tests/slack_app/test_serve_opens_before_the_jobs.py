"""Issue 14: serve opens to Slack once the bot is built and recovered, before its scheduled jobs
start (a report due late at start renders then), and /readyz waits for the jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.bootstrap import ServedBot, served_builder
from bot.config import Settings
from bot.runbook.models import Runbook
from bot.sim.slack_api import FakeSlackApi
from bot.slack.server import serve
from tests.slack_app.test_startup import Listening, get, help_command, post_signed, ready_in_time, serve_settings


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class JobsHeld:
    """serve's own builder, whose scheduled jobs start only when the test lets them."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.let_go = asyncio.Event()

    async def __call__(self, settings: Settings, runbook: Runbook | None, socket_mode: bool) -> ServedBot:
        served: ServedBot = await served_builder()(settings, runbook, socket_mode)
        start = served.start

        async def held_start() -> None:
            self.asked.set()
            await self.let_go.wait()
            await start()

        vars(served)["start"] = held_start
        return served


async def test_a_command_is_answered_while_the_scheduled_jobs_are_still_starting(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    jobs, listening = JobsHeld(), Listening()
    serving = asyncio.create_task(serve(serve_settings(tmp_path, api), build=jobs, on_listening=listening))
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        await jobs.asked.wait()

        assert await post_signed(http, url, help_command("U0LEE")) == 200
        answer = await asyncio.wait_for(api.wait_for("chat.postEphemeral"), 30)
        assert answer["user"] == "U0LEE"
        assert (await get(http, url + "/readyz"))[0] == 503  # not ready while the jobs wait

        jobs.let_go.set()
        assert await ready_in_time(http, url + "/readyz", serving) == 200
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


async def test_serve_reuses_its_connections_to_the_web_api_across_answers(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    """Against real Slack every new connection is a TLS handshake each answer would wait on."""
    listening = Listening()
    serving = asyncio.create_task(serve(serve_settings(tmp_path, api), build=served_builder(), on_listening=listening))
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        for count, user in enumerate(("U0LEE", "U0SAM", "U0MARIA", "U0LOU"), start=1):
            assert await post_signed(http, url, help_command(user)) == 200
            await asyncio.wait_for(api.wait_for("chat.postEphemeral", count), 30)
        replies = [c for c in api.recorded if c.method == "chat.postEphemeral"]
        assert all(c.connection for c in replies)
        # Each answer was sent after the last one had arrived: an idle connection was there to reuse.
        assert len({c.connection for c in replies}) < len(replies)
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


class BuildHeld:
    """serve's own builder, which builds only when the test lets it."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.let_go = asyncio.Event()

    async def __call__(self, settings: Settings, runbook: Runbook | None, socket_mode: bool) -> ServedBot:
        self.asked.set()
        await self.let_go.wait()
        served: ServedBot = await served_builder()(settings, runbook, socket_mode)
        return served


async def test_the_timeline_says_starting_until_the_bot_has_settled_then_opens(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    """Mounted before the port is bound, the pages answer from the first moment: "starting" (503)
    while the bot is built, then the page's own answer once it has settled (here: sign-in is not
    set up, so the timeline says which settings it needs)."""
    held, listening = BuildHeld(), Listening()
    serving = asyncio.create_task(serve(serve_settings(tmp_path, api), build=held, on_listening=listening))
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        await held.asked.wait()
        status, body = await get(http, url + "/runs")
        assert status == 503 and "starting" in body

        held.let_go.set()
        assert await ready_in_time(http, url + "/readyz", serving) == 200
        for _ in range(1500):  # opened about a second after the bot answers (bot/heap.py settles first)
            status, body = await get(http, url + "/runs")
            if "starting" not in body or serving.done():
                break
            await asyncio.sleep(0.02)
        assert "starting" not in body
        assert "needs Sign in with Slack set up" in body and "SLACK_CLIENT_ID" in body
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


class StartWatched:
    """serve's own builder, building when the test lets it, that notes at the jobs' start how many
    answers Slack had and whether the Runtime (the jobs, the reports) was still unbuilt."""

    def __init__(self, api: FakeSlackApi) -> None:
        self.api = api
        self.asked = asyncio.Event()
        self.let_go = asyncio.Event()
        self.at_start: list[tuple[int, bool]] = []

    async def __call__(self, settings: Settings, runbook: Runbook | None, socket_mode: bool) -> ServedBot:
        self.asked.set()
        await self.let_go.wait()
        served: ServedBot = await served_builder()(settings, runbook, socket_mode)
        start = served.start

        async def watched_start() -> None:
            self.at_start.append((self.api.call_count("chat.postEphemeral"), served.runtime.built is None))
            await start()

        vars(served)["start"] = watched_start
        return served


async def test_the_jobs_and_reports_are_built_only_once_a_command_sent_while_the_bot_started_is_answered(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.slack.transport.startup_gate.HOLD_SECONDS", 0.0)  # acked at once, worked at open
    monkeypatch.setattr("bot.slack.server.EARLY_ANSWERS_SECONDS", 60.0)  # the wait's bound is not under test
    watched, listening = StartWatched(api), Listening()
    serving = asyncio.create_task(serve(serve_settings(tmp_path, api), build=watched, on_listening=listening))
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        await watched.asked.wait()
        assert await post_signed(http, url, help_command("U0LEE")) == 200  # held by the gate

        watched.let_go.set()
        assert await ready_in_time(http, url + "/readyz", serving) == 200
        assert watched.at_start == [(1, True)]
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
