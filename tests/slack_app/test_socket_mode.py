"""`ionbot serve` with SLACK_APP_TOKEN: the real serve path and the real Socket Mode client against
fakes of Slack's WebSocket end and its Web API. Envelopes are acked by id before their work is done,
the work lands, a redelivered envelope is acked again but not worked twice, and the probes answer."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp

from bot.bootstrap import Bot, build, served_builder
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.sim.slack_api import FakeSlackWorkspace
from bot.slack import app as slack_app
from bot.slack.app import build_app, state_of
from bot.slack.server import serve
from tests.slack_app.conftest import CHANNEL, NAMES, ROLES, RUNBOOK, START, find_element
from tests.slack_app.socket_fake import APP_ID, APP_TOKEN, FakeSocketMode, SocketModeSlackApi
from tests.slack_app.test_startup import Listening, get, ready_in_time

JSONDict = dict[str, Any]
TRIGGERS = itertools.count(1)  # Slack gives every command and click its own trigger id
Condition = Callable[[], "bool | Awaitable[bool]"]


async def until(condition: Condition, what: str, tries: int = 1500) -> None:
    """Poll ``condition`` (a bounded number of times, never a wall-clock deadline) until it holds."""
    for _ in range(tries):
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"this never happened: {what}")


@dataclass
class SocketSlack:
    """Talks to the bot as Slack does in Socket Mode, and reads what the bot sent back and to the Web API."""

    socket: FakeSocketMode
    api: SocketModeSlackApi
    apps: list[AsyncApp]  # the one app serve built, once it has
    bots: list[Bot]  # the bot serve built it over
    serving: asyncio.Task[None]
    url: str
    http: aiohttp.ClientSession

    @property
    def app(self) -> AsyncApp:
        return self.apps[0]

    @property
    def bot(self) -> Bot:
        return self.bots[0]

    async def settle(self) -> None:
        """Wait for the work every envelope so far started after its ack."""
        await state_of(self.app).settle()

    async def command(self, text: str, user: str = "U0LEE", *, envelope_id: str | None = None) -> str:
        return await self.socket.send("slash_commands", command_payload(text, user), accepts_response_payload=True)

    async def click(self, message_ts: str, action_id: str, user: str = "U0LEE") -> str:
        """Press ``action_id`` on the message as it is now in the fake workspace; returns the envelope id."""
        message = self.api.messages[(CHANNEL, message_ts)]
        element, block = find_element(message["blocks"], action_id)
        payload = {
            "type": "block_actions",
            "api_app_id": APP_ID,
            "team": {"id": "T0ION", "domain": "ion-test"},
            "user": {"id": user, "username": NAMES.get(user, user), "team_id": "T0ION"},
            "channel": {"id": CHANNEL, "name": "rollout"},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
            "message": {"ts": message_ts, "blocks": message["blocks"]},
            "trigger_id": f"trigger-{user}-{next(TRIGGERS)}",
            "response_url": "http://127.0.0.1:9/unused",
            "actions": [{**element, "block_id": block.get("block_id"), "action_ts": "1"}],
        }
        return await self.socket.send("interactive", payload)

    async def acked(self, envelope_id: str, times: int = 1) -> list[JSONDict]:
        await until(lambda: len(self.socket.acks_of(envelope_id)) >= times, f"{times} ack(s) of {envelope_id}")
        return self.socket.acks_of(envelope_id)

    def ephemerals(self) -> list[str]:
        return [str(c.get("text", "")) for c in self.api.calls("chat.postEphemeral")]

    def card_ts(self, text_part: str) -> str | None:
        found = [
            ts
            for (channel, ts), message in self.api.messages.items()
            if channel == CHANNEL and text_part in str(message.get("text", "")) and not message.get("thread_ts")
        ]
        return found[-1] if found else None

    async def executions(self) -> int:
        run = await self.bot.store.open_run(CHANNEL)
        if run is None:
            return 0
        return sum(1 for e in await self.bot.store.executions(run.id) if e.kind == "apply")


def command_payload(text: str, user: str) -> JSONDict:
    """A slash command as Slack sends it over the socket, with its own trigger id."""
    return {
        "token": "unused-verification-token",
        "team_id": "T0ION",
        "team_domain": "ion-test",
        "channel_id": CHANNEL,
        "channel_name": "rollout",
        "user_id": user,
        "user_name": NAMES.get(user, user),
        "command": "/ion",
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": f"trigger-{user}-{next(TRIGGERS)}",
    }


def socket_settings(tmp_path: Path, api: SocketModeSlackApi) -> Settings:
    """Socket Mode: an app-level token and no signing secret."""
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/ion.db",
        runbook=RUNBOOK,
        roles=ROLES,
        cloud="sim",
        slack_bot_token="xoxb-test",
        slack_app_token=APP_TOKEN,
        slack_signing_secret=None,
        slack_api_url=api.base_url,
        host="127.0.0.1",
        port=0,
    )


def _other_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_token: str = APP_TOKEN
) -> AsyncIterator[SocketSlack]:
    """The fakes and the real ``serve`` with ``app_token``, from the bound port on; all stopped after."""
    socket = FakeSocketMode()
    await socket.start()
    workspace = FakeSlackWorkspace(
        users={uid: {"name": name} for uid, name in NAMES.items()},
        usergroups={"S0ONCALL": ["U0SAM"]},
        channels={CHANNEL: "rollout"},
    )
    api = SocketModeSlackApi(socket, workspace)
    await api.start()
    apps: list[AsyncApp] = []

    def build_and_keep_app(*args: Any, **kwargs: Any) -> AsyncApp:
        apps.append(build_app(*args, **kwargs))
        return apps[-1]

    bots: list[Bot] = []

    async def build_on_a_virtual_clock(settings: Settings) -> Bot:
        bots.append(await build(settings, clock=VirtualClock(START)))
        return bots[-1]

    monkeypatch.setattr(slack_app, "build_app", build_and_keep_app)  # serve imports it when it starts
    before = set(_other_tasks())
    listening = Listening()
    settings = socket_settings(tmp_path, api).model_copy(update={"slack_app_token": app_token})
    task = asyncio.create_task(serve(settings, build=served_builder(build_on_a_virtual_clock), on_listening=listening))
    try:
        url = f"http://127.0.0.1:{await listening.port}"
        async with aiohttp.ClientSession() as http:
            yield SocketSlack(socket, api, apps, bots, task, url, http)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.stop()
        await socket.stop()
    await until(lambda: not set(_other_tasks()) - before, "every task serve started has ended")


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SocketSlack]:
    async with serving(tmp_path, monkeypatch) as harness:
        assert await ready_in_time(harness.http, harness.url + "/readyz", harness.serving) == 200
        assert harness.socket.connected
        yield harness
        await harness.settle()  # the work lands before the fakes stop


async def test_serve_opens_the_socket_with_the_app_token_and_keeps_only_the_probes_on_http(
    slack: SocketSlack,
) -> None:
    assert len(slack.api.calls("apps.connections.open")) == 1  # answered ok: only the xapp- token is accepted
    assert slack.socket.connections == 1
    assert await get(slack.http, slack.url + "/healthz") == (200, '{"ok": true}')
    assert (await get(slack.http, slack.url + "/readyz"))[0] == 200
    async with slack.http.post(slack.url + "/slack/events", data="command=/ion&text=status") as response:
        assert response.status == 404  # events arrive over the socket; nothing listens for them here


async def test_a_slash_command_envelope_is_acked_by_its_id_before_its_work_is_done(slack: SocketSlack) -> None:
    slack.api.hold("chat.postEphemeral")  # the work's answer cannot land until released
    envelope = await slack.command("start slacktest")

    assert await slack.acked(envelope) == [{"envelope_id": envelope}]
    assert slack.ephemerals() == []  # acked while its work was still waiting on the Web API
    slack.api.release("chat.postEphemeral")
    await slack.settle()
    assert any("started; Day 1 is Mon 27 Oct" in text for text in slack.ephemerals()), slack.ephemerals()
    assert await slack.bot.store.open_run(CHANNEL) is not None
    assert await get(slack.http, slack.url + "/healthz") == (200, '{"ok": true}')


async def test_a_redelivered_command_envelope_is_acked_again_and_does_nothing_twice(slack: SocketSlack) -> None:
    envelope = await slack.command("start slacktest")
    await slack.acked(envelope)
    await slack.settle()
    calls_before = len(slack.api.recorded)

    await slack.socket.redeliver(envelope)  # as if Slack had missed the ack
    assert await slack.acked(envelope, times=2) == [{"envelope_id": envelope}] * 2
    await slack.settle()

    assert slack.api.recorded[calls_before:] == []  # no "this channel already has run ..." either
    assert [text for text in slack.ephemerals() if "started" in text] == slack.ephemerals()[:1]


async def test_a_button_envelope_runs_the_step_once_even_when_it_is_redelivered(slack: SocketSlack) -> None:
    await slack.acked(await slack.command("start slacktest"))
    await slack.acked(await slack.command("step day1.1"))
    await slack.settle()
    ts = slack.card_ts("Step day1.1")
    assert ts is not None, slack.ephemerals()

    click = await slack.click(ts, "ion:run:staging")
    assert await slack.acked(click) == [{"envelope_id": click}]
    await slack.settle()
    assert await slack.executions() == 1
    assert ":white_check_mark: done" in json.dumps(slack.api.messages[(CHANNEL, ts)])
    assert any("Done: day1.1 on staging" in str(call) for call in slack.api.calls())

    calls_before = len(slack.api.recorded)
    await slack.socket.redeliver(click)
    assert len(await slack.acked(click, times=2)) == 2
    await slack.settle()
    assert slack.api.recorded[calls_before:] == []  # not even "this card was out of date"
    assert await slack.executions() == 1


async def test_one_command_in_a_second_envelope_is_answered_again_and_worked_once(slack: SocketSlack) -> None:
    """A new envelope id with the same body (a replica took the first and died before recording
    its ack, so the envelope record no longer stops it): the trigger id in the body does."""
    await slack.acked(await slack.command("start slacktest"))
    payload = command_payload("incident the API returns 500s", "U0SAM")
    first = await slack.socket.send("slash_commands", payload, accepts_response_payload=True)
    await slack.acked(first)
    await slack.settle()
    second = await slack.socket.send("slash_commands", payload, accepts_response_payload=True)
    assert second != first
    await slack.acked(second)
    await slack.settle()

    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None and len(await slack.bot.store.incidents(run.id)) == 1
    recorded, again = [text for text in slack.ephemerals() if "Incident recorded" in text]
    assert again.startswith(recorded) and "Slack delivered this request again" in again


async def test_readyz_says_starting_while_the_socket_cannot_connect_and_healthz_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(tmp_path, monkeypatch, app_token="xapp-1-A0ION-1-revoked") as slack:
        await until(lambda: slack.api.calls("apps.connections.open"), "a try to open the socket")
        assert slack.api.call_count("apps.connections.open") >= 1
        assert not slack.socket.connected
        status, text = await get(slack.http, slack.url + "/readyz")
        assert (status, "starting" in text) == (503, True)
        assert await get(slack.http, slack.url + "/healthz") == (200, '{"ok": true}')


async def test_readyz_is_503_while_a_dropped_socket_reconnects_and_200_once_it_is_back(slack: SocketSlack) -> None:
    slack.api.hold("apps.connections.open")  # the reconnect waits until the test lets it through
    await slack.socket.drop()
    await until(lambda: not slack.socket.connected, "the socket closed")
    await until(lambda: _status(slack, "/readyz", 503), "/readyz saying the bot is not ready")
    assert (await get(slack.http, slack.url + "/healthz"))[0] == 200  # alive, only not ready
    slack.api.release("apps.connections.open")
    await until(lambda: slack.socket.connected, "slack_sdk reconnecting (it checks every 10 s)", tries=6000)
    await until(lambda: _status(slack, "/readyz", 200), "/readyz ready again")
    assert slack.socket.connections == 2


async def _status(slack: SocketSlack, path: str, wanted: int) -> bool:
    return (await get(slack.http, slack.url + path))[0] == wanted


async def test_a_dialog_envelope_with_several_response_urls_is_acked(slack: SocketSlack) -> None:
    """Bolt read such a body by logging to a context without a logger yet; the envelope was never
    acked, so Slack sent it again and again and the person was left without an answer."""
    where = {"block_id": "confirm_name", "action_id": "ion:typed_name", "channel_id": CHANNEL}
    payload = {
        "type": "view_submission",
        "api_app_id": APP_ID,
        "team": {"id": "T0ION", "domain": "ion-test"},
        "user": {"id": "U0LEE", "username": NAMES["U0LEE"], "team_id": "T0ION"},
        "trigger_id": f"trigger-U0LEE-{next(TRIGGERS)}",
        "view": {"id": "V0GONE", "type": "modal", "callback_id": "ion:confirm", "state": {"values": {}}},
        "response_urls": [{**where, "response_url": f"http://127.0.0.1:9/r{n}"} for n in (1, 2)],
    }
    envelope = await slack.socket.send("interactive", payload)

    assert len(await slack.acked(envelope)) == 1
