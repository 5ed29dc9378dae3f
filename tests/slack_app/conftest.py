"""The real aiohttp endpoint, a real Bolt app and the real AsyncWebClient against the fake Web API."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import Bot, build, finish_app, outbox_for, slack_deps
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.slack.app import IonApp, build_app, state_of
from bot.slack.delivery.outbox import Outbox
from bot.slack.deps import ReportsPort
from bot.slack.listeners import AppState
from bot.slack.server import make_web_app, start_site

RUNBOOK = Path(__file__).with_name("runbook.yaml")
SECRET = "test-signing-secret"
CHANNEL = "C0ROLLOUT"
START = datetime(2025, 10, 27, 15, 0, tzinfo=UTC)  # Monday 10:00 in Chicago
ROLES = {"lead": ["U0LEE"], "sre_oncall": ["S0ONCALL"], "member": ["U0DANA"], "manager": ["U0MARIA"]}
NAMES = {"U0LEE": "lee", "U0SAM": "sam", "U0DANA": "dana", "U0MARIA": "maria"}


class NoJitter:
    """Stands in for slack_sdk's random module so Retry-After: 0 waits 0 s."""

    @staticmethod
    def random() -> float:
        return 0.0


def signed(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Slack:
    """Talks to the bot's real endpoint as Slack would, and reads what the bot sent to the fake API."""

    bot: Bot
    api: FakeSlackApi
    app: IonApp
    url: str
    http: aiohttp.ClientSession
    triggers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    last_trigger: dict[str, str] = field(default_factory=dict)

    def new_trigger(self, user: str) -> str:
        """A fresh trigger id, as Slack sends with every command and click (a retry sends the same)."""
        self.last_trigger[user] = f"trigger-{user}-{next(self.triggers)}"
        return self.last_trigger[user]

    def trigger_for(self, user: str, retry: int | None, trigger_id: str | None) -> str:
        if trigger_id is not None:
            return trigger_id
        return self.last_trigger[user] if retry else self.new_trigger(user)

    @property
    def state(self) -> AppState:
        return state_of(self.app)

    async def post(
        self,
        body: str,
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type, **signed(body), **(headers or {})}
        async with self.http.post(self.url + "/slack/events", data=body, headers=all_headers) as response:
            return response.status, await response.text()

    async def command(
        self, text: str, user: str = "U0LEE", *, retry: int | None = None, trigger_id: str | None = None
    ) -> tuple[int, str]:
        """``/ion TEXT`` with a fresh trigger id; a ``retry`` (X-Slack-Retry-Num) resends the user's last one."""
        body = urlencode(
            {
                "command": "/ion",
                "text": text,
                "user_id": user,
                "user_name": NAMES.get(user, user),
                "channel_id": CHANNEL,
                "team_id": "T0ION",
                "trigger_id": self.trigger_for(user, retry, trigger_id),
                "response_url": "http://127.0.0.1:9/unused",
            }
        )
        return await self.post(body, retry_headers(retry))

    async def interact(self, payload: dict[str, Any], *, retry: int | None = None) -> tuple[int, str]:
        return await self.post(urlencode({"payload": json.dumps(payload)}), retry_headers(retry))

    async def click(
        self,
        message_ts: str,
        action_id: str,
        user: str = "U0LEE",
        *,
        retry: int | None = None,
        trigger_id: str | None = None,
    ) -> tuple[int, str]:
        """Press the button ``action_id`` on the message as it is now in the fake workspace (a fresh
        trigger id; a ``retry`` is Slack sending the user's last press again)."""
        trigger = self.trigger_for(user, retry, trigger_id)
        return await self.interact(self.click_payload(message_ts, action_id, user, trigger), retry=retry)

    def click_payload(self, message_ts: str, action_id: str, user: str, trigger_id: str) -> dict[str, Any]:
        """The ``block_actions`` payload Slack sends for that press, as it would send it again on a retry."""
        message = self.api.messages[(CHANNEL, message_ts)]
        element, block = find_element(message["blocks"], action_id)
        return {
            "type": "block_actions",
            "team": {"id": "T0ION"},
            "user": {"id": user, "username": NAMES.get(user, user)},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
            "message": {"ts": message_ts, "blocks": message["blocks"]},
            "trigger_id": trigger_id,
            "actions": [{**element, "block_id": block.get("block_id"), "action_ts": "1"}],
        }

    async def submit(
        self, view: dict[str, Any], values: dict[str, Any], user: str = "U0LEE", *, retry: int | None = None
    ) -> tuple[int, str]:
        """Submit the dialog ``view`` (as the fake shows it: with its id and hash) with ``values``."""
        return await self.interact(
            {
                "type": "view_submission",
                "team": {"id": "T0ION"},
                "user": {"id": user, "username": NAMES.get(user, user)},
                "trigger_id": self.trigger_for(user, retry, None),
                "view": {**view, "state": {"values": values}},
            },
            retry=retry,
        )

    def ephemerals(self, user: str | None = None) -> list[str]:
        return [str(c.get("text", "")) for c in self.api.calls("chat.postEphemeral") if user in (None, c.get("user"))]

    def posted(self) -> list[dict[str, Any]]:
        return self.api.calls("chat.postMessage")

    def card_ts(self, text_part: str) -> str:
        """The ts of the latest top-level message whose text contains ``text_part``."""
        found = [
            ts
            for (channel, ts), message in self.api.messages.items()
            if channel == CHANNEL and text_part in str(message.get("text", "")) and not message.get("thread_ts")
        ]
        assert found, f"no message with {text_part!r}; posted: {[c.get('text') for c in self.posted()]}"
        return found[-1]


def retry_headers(retry: int | None) -> dict[str, str]:
    """What Slack adds when it sends a request again because it saw no ack within 3 seconds."""
    return {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}


def find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element, block
    raise AssertionError(f"no element {action_id} in the card")


def fast_client(api: FakeSlackApi) -> AsyncWebClient:
    """The real client with the three retry handlers, waiting 0 s between tries."""
    client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
    zero = FixedValueRetryIntervalCalculator(0.0)
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=zero),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=zero),
    ]
    return client


async def make_bot(tmp_path: Path, **overrides: Any) -> Bot:
    """The bot on a SQLite file in ``tmp_path``, unless ``overrides`` names another database_url."""
    fields: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/ion.db",
        "runbook": RUNBOOK,
        "roles": ROLES,
        "cloud": "sim",
    }
    settings = Settings(**{**fields, **overrides})
    return await build(settings, clock=VirtualClock(START))


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    workspace = FakeSlackWorkspace(
        users={uid: {"name": name} for uid, name in NAMES.items()},
        usergroups={"S0ONCALL": ["U0SAM"]},
        channels={CHANNEL: "rollout"},
    )
    async with FakeSlackApi(workspace) as fake:
        yield fake


async def slack_harness(
    tmp_path: Path,
    api: FakeSlackApi,
    process_before_response: bool,
    reports: Callable[[Bot, Outbox], ReportsPort] | None = None,
    **overrides: Any,
) -> AsyncIterator[Slack]:
    """The harness; ``reports`` makes the app's reports port from the bot and the app's outbox."""
    bot = await make_bot(tmp_path, **overrides)
    outbox = outbox_for(bot, fast_client(api))
    deps = slack_deps(bot, outbox, reports(bot, outbox) if reports is not None else None)
    app = finish_app(bot, build_app(deps, signing_secret=SECRET, process_before_response=process_before_response))

    async def ready() -> bool:
        return True

    runner, port = await start_site(make_web_app(app, ready), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield Slack(bot, api, app, f"http://127.0.0.1:{port}", http)
    finally:
        await state_of(app).settle()
        await runner.cleanup()
        await bot.close()


@pytest.fixture
async def slack(tmp_path: Path, api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Slack]:
    monkeypatch.setattr(builtin_async_handlers, "random", NoJitter)
    async for harness in slack_harness(tmp_path, api, True):
        yield harness


@pytest.fixture
async def slack_dry(tmp_path: Path, api: FakeSlackApi) -> AsyncIterator[Slack]:
    async for harness in slack_harness(tmp_path, api, True, dry_run=True):
        yield harness


@pytest.fixture
async def slack_acking(tmp_path: Path, api: FakeSlackApi) -> AsyncIterator[Slack]:
    async for harness in slack_harness(tmp_path, api, False):
        yield harness


async def started(slack: Slack) -> None:
    status, _ = await slack.command("start slacktest")
    assert status == 200
    assert await slack.bot.store.open_run(CHANNEL) is not None, slack.ephemerals()


__all__ = ["CHANNEL", "Slack", "find_element", "signed", "started", "web"]
