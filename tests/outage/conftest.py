"""A bot on its own stoppable PostgreSQL server, reached as Slack reaches it (signed HTTP), with
the store's health watch running as `ionbot serve` runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.bootstrap import Bot, build, slack_app
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.slack.app import state_of
from bot.slack.server import database_and_loops_ready, make_web_app, start_site, watch_the_store
from bot.store.migrate import upgrade
from tests.outage.pg_cluster import StoppableCluster, stoppable_cluster
from tests.slack_app.conftest import CHANNEL, NAMES, ROLES, SECRET, START, fast_client, find_element, signed
from tests.store.databases import create_postgres_database

RUNBOOK = Path(__file__).with_name("runbook.yaml")
POLLS = 2000  # bounded polls of 10 ms: a condition not met by then fails the test with its own message


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after POLLS tries."""
    for _ in range(POLLS):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[StoppableCluster]:
    folder = Path(tempfile.mkdtemp(prefix="ion-outage-pg-"))
    try:
        server = stoppable_cluster(folder)
        try:
            yield server
        finally:
            with contextlib.suppress(RuntimeError):  # a test that failed mid-outage left it stopped
                server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    workspace = FakeSlackWorkspace(
        users={uid: {"name": name} for uid, name in NAMES.items()},
        usergroups={"S0ONCALL": ["U0SAM"]},
        channels={CHANNEL: "rollout"},
    )
    async with FakeSlackApi(workspace) as fake:
        yield fake


@dataclass
class ServedBot:
    """The bot behind its real endpoint and probes; ``clock`` is virtual."""

    bot: Bot
    api: FakeSlackApi
    clock: VirtualClock
    url: str
    http: aiohttp.ClientSession

    async def command(self, text: str, reply_to: str, user: str = "U0LEE") -> tuple[int, str]:
        body = urlencode(
            {
                "command": "/ion",
                "text": text,
                "user_id": user,
                "user_name": NAMES.get(user, user),
                "channel_id": CHANNEL,
                "team_id": "T0ION",
                "trigger_id": f"trigger-{reply_to}",
                "response_url": self.api.response_url(reply_to),
            }
        )
        return await self._post(body)

    async def click(self, message_ts: str, action_id: str, reply_to: str, user: str = "U0LEE") -> tuple[int, str]:
        message = self.api.messages[(CHANNEL, message_ts)]
        element, block = find_element(message["blocks"], action_id)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": "T0ION"},
            "user": {"id": user, "username": NAMES.get(user, user)},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
            "message": {"ts": message_ts, "blocks": message["blocks"]},
            "trigger_id": f"trigger-{reply_to}",
            "response_url": self.api.response_url(reply_to),
            "actions": [{**element, "block_id": block.get("block_id"), "action_ts": "1"}],
        }
        return await self._post(urlencode({"payload": json.dumps(payload)}))

    async def submit(self, callback_id: str, values: dict[str, Any], user: str = "U0LEE") -> tuple[int, str]:
        """Submit a dialog of ours (``callback_id``) with ``values``; Slack sends no response_urls."""
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": "T0ION"},
            "user": {"id": user, "username": NAMES.get(user, user)},
            "trigger_id": f"trigger-dialog-{user}",
            "view": {"id": "V0DIALOG", "type": "modal", "callback_id": callback_id, "state": {"values": values}},
        }
        return await self._post(urlencode({"payload": json.dumps(payload)}))

    async def readyz(self) -> int:
        async with self.http.get(self.url + "/readyz") as response:
            return response.status

    async def _post(self, body: str) -> tuple[int, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
        async with self.http.post(self.url + "/slack/events", data=body, headers=headers) as response:
            return response.status, await response.text()


@pytest.fixture
async def served(cluster: StoppableCluster, api: FakeSlackApi) -> AsyncIterator[ServedBot]:
    url = await create_postgres_database(cluster.url)
    await upgrade(url)
    clock = VirtualClock(START)
    settings = Settings(database_url=url, runbook=RUNBOOK, roles=ROLES, cloud="sim")
    bot = await build(settings, clock=clock)
    app = slack_app(bot, fast_client(api), signing_secret=SECRET)
    loops = [watch_the_store(bot, state_of(app).outbox)]
    runner, port = await start_site(make_web_app(app, database_and_loops_ready(bot, loops)), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield ServedBot(bot, api, clock, f"http://127.0.0.1:{port}", http)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for task in list(state_of(app).tasks):
            task.cancel()
        await asyncio.gather(*state_of(app).tasks, return_exceptions=True)
        await runner.cleanup()
        await bot.close()
