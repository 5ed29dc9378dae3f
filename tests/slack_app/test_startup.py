"""`ionbot serve` binds first and builds after: the probes answer while the bot is being built,
and a build that fails closes the port and exits with its one message."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import Bot, build, served_builder, slack_app
from bot.config import ConfigError, Settings
from bot.sim.slack_api import FakeSlackApi
from bot.slack.server import Startup, make_startup_web_app, serve, start_site
from tests.slack_app.conftest import CHANNEL, RUNBOOK, SECRET, signed

REPO = Path(__file__).resolve().parents[2]


def serve_settings(tmp_path: Path, api: FakeSlackApi) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/ion.db",
        runbook=RUNBOOK,
        cloud="sim",
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=api.base_url,
        host="127.0.0.1",
        port=0,
    )


class GatedBuild:
    """Builds the real bot only when the test says so, to look at the server while it waits."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, settings: Settings) -> Bot:
        self.started.set()
        await self.release.wait()
        return await build(settings)


class Listening:
    """Receives the bound port from ``serve``."""

    def __init__(self) -> None:
        self.port: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def __call__(self, port: int) -> None:
        self.port.set_result(port)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def ready_in_time(http: aiohttp.ClientSession, url: str, serving: asyncio.Task[None]) -> int:
    """Polls /readyz until it says 200 (or the server stopped); returns the last status."""
    status = 0
    for _ in range(1500):
        status, _ = await get(http, url)
        if status == 200 or serving.done():
            return status
        await asyncio.sleep(0.02)
    return status


async def test_healthz_answers_while_the_bot_is_still_being_built_and_readyz_waits_for_it(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    gated, listening = GatedBuild(), Listening()
    serving = asyncio.create_task(
        serve(serve_settings(tmp_path, api), build=served_builder(gated), on_listening=listening)
    )
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        await gated.started.wait()

        assert await get(http, url + "/healthz") == (200, '{"ok": true}')
        status, text = await get(http, url + "/readyz")
        assert (status, "starting" in text) == (503, True)
        async with http.post(url + "/slack/events", data="command=/ion&text=status") as response:
            assert response.status == 401  # not Slack's: refused at once, even while starting

        gated.release.set()
        assert await ready_in_time(http, url + "/readyz", serving) == 200
        assert await get(http, url + "/healthz") == (200, '{"ok": true}')
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


async def test_a_build_that_fails_closes_the_port_and_raises_its_error(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    listening = Listening()

    async def broken_build(settings: Settings) -> Bot:
        raise ConfigError("the database says no; nothing was started.")

    with pytest.raises(ConfigError, match="the database says no"):
        await serve(serve_settings(tmp_path, api), build=served_builder(broken_build), on_listening=listening)
    port = listening.port.result()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, f"http://127.0.0.1:{port}/healthz")


def test_ionbot_serve_with_a_broken_runbook_exits_non_zero_with_its_message_and_no_traceback(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ION_CLOUD": "sim",
        "ION_HOST": "127.0.0.1",
        "PORT": "0",
        "ION_RUNBOOK": str(broken),
        "ION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/ion.db",
        "ION_LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 2
    assert f"cannot load the runbook {broken}:" in done.stderr
    assert "missing required field 'title'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("access_log", [False, True])
async def test_the_access_log_is_a_line_per_request_only_when_asked_for(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, access_log: bool
) -> None:
    web_app = make_startup_web_app(Startup(), events=True)
    runner, port = await start_site(web_app, "127.0.0.1", 0, access_log=access_log)
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            status, _ = await get(http, f"http://127.0.0.1:{port}/healthz")
            await asyncio.sleep(0)
    finally:
        await runner.cleanup()
    assert status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert (len(lines), any("GET /healthz" in line for line in lines)) == ((1, True) if access_log else (0, False))


async def test_building_the_app_with_slack_bot_token_set_warns_of_nothing(
    tmp_path: Path, api: FakeSlackApi, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt says the token "will be unused" whenever a client is given; ours is, on purpose."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    bot = await build(serve_settings(tmp_path, api))
    try:
        with caplog.at_level(logging.INFO, logger="slack_bolt"):
            slack_app(bot, AsyncWebClient(token="xoxb-test", base_url=api.base_url), signing_secret=SECRET)
    finally:
        await bot.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []


def help_command(user: str) -> str:
    return urlencode(
        {
            "command": "/ion",
            "text": "help",
            "user_id": user,
            "user_name": user,
            "channel_id": CHANNEL,
            "team_id": "T0ION",
            "trigger_id": f"trigger-{user}",
            "response_url": "http://127.0.0.1:9/unused",
        }
    )


async def post_signed(http: aiohttp.ClientSession, url: str, body: str) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
    async with http.post(url + "/slack/events", data=body, headers=headers) as response:
        return response.status


@pytest.mark.parametrize("hold_for", [0.0, 60.0], ids=["acked-then-worked", "held-until-ready"])
async def test_a_command_sent_while_the_bot_starts_is_answered_once_it_is_ready_never_refused(
    tmp_path: Path, api: FakeSlackApi, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch, hold_for: float
) -> None:
    """With hold_for 0 the request is acked at once and worked at open; with a long hold the
    request waits for the bot and is answered in its own response. Either way: one answer."""
    monkeypatch.setattr("bot.slack.transport.startup_gate.HOLD_SECONDS", hold_for)
    gated, listening = GatedBuild(), Listening()
    serving = asyncio.create_task(
        serve(serve_settings(tmp_path, api), build=served_builder(gated), on_listening=listening)
    )
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        await gated.started.wait()
        sent = asyncio.create_task(post_signed(http, url, help_command("U0LEE")))
        if hold_for == 0.0:
            assert await sent == 200  # acked within Slack's 3 s although the bot is not built
            assert api.call_count("chat.postEphemeral") == 0
        gated.release.set()
        if hold_for != 0.0:
            assert await sent == 200
        answer = await asyncio.wait_for(api.wait_for("chat.postEphemeral"), 30)
        assert answer["user"] == "U0LEE" and "/ion" in str(answer)
        assert await ready_in_time(http, url + "/readyz", serving) == 200
        assert api.call_count("chat.postEphemeral") == 1
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


def test_what_serve_imports_before_it_binds_its_port_loads_no_runbook_model_store_bolt_or_scheduler() -> None:
    """The platform sees a live port as soon as possible: the bot's modules are imported behind it."""
    heavy = (
        "bot.runbook.models",
        "bot.engine.ports",
        "sqlalchemy",
        "slack_bolt",
        "yaml",
        "apscheduler",
        "bot.bootstrap",
    )
    script = (
        "import sys, bot.cli, bot.heap, bot.slack.server\n"
        f"print(sorted(name for name in {heavy!r} if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
