"""Socket Mode frames of any shape: the real serve path and the real Socket Mode client never log a
traceback for them, ack what names an envelope (so Slack stops sending it), refuse an unexpected
click privately, and keep answering the envelopes that follow."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.slack_app.conftest import CHANNEL
from tests.slack_app.socket_fake import APP_ID
from tests.slack_app.test_socket_mode import SocketSlack, serving, until
from tests.slack_app.test_startup import ready_in_time

JUNK_FRAMES = {
    "not JSON": "{not json",
    "a JSON list": "[1, 2]",
    "an envelope id that is a number": '{"envelope_id": 5, "type": "interactive", "payload": {}}',
    "a payload that is a list": '{"envelope_id": "junk-list", "type": "interactive", "payload": [1]}',
    "a payload that is text": '{"envelope_id": "junk-text", "type": "slash_commands", "payload": "status"}',
    "no payload": '{"envelope_id": "junk-none", "type": "events_api"}',
}


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SocketSlack]:
    async with serving(tmp_path, monkeypatch) as harness:
        assert await ready_in_time(harness.http, harness.url + "/readyz", harness.serving) == 200
        yield harness
        await harness.settle()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


async def send_raw(slack: SocketSlack, frame: str) -> None:
    [socket] = [s for s in slack.socket._sockets if not s.closed]
    await socket.send_str(frame)


@pytest.mark.parametrize("frame", JUNK_FRAMES.values(), ids=list(JUNK_FRAMES))
async def test_a_junk_frame_is_dropped_without_a_traceback_and_the_next_command_is_answered(
    slack: SocketSlack, caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    with caplog.at_level(logging.WARNING):
        await send_raw(slack, frame)
        envelope = await slack.command("start slacktest")
        await slack.acked(envelope)
        await slack.settle()
    assert await slack.bot.store.open_run(CHANNEL) is not None
    assert tracebacks(caplog) == []
    named = [e for e in ("junk-list", "junk-text", "junk-none") if e in frame]
    for envelope_id in named:  # acked, so Slack would not send it again
        await slack.acked(envelope_id)


async def test_a_click_envelope_without_actions_is_acked_and_refused_privately(
    slack: SocketSlack, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {
        "type": "block_actions",
        "api_app_id": APP_ID,
        "team": {"id": "T0ION"},
        "user": {"id": "U0LEE", "username": "lee"},
        "channel": {"id": CHANNEL},
        "trigger_id": "trigger-U0LEE",
        "actions": [],
    }
    with caplog.at_level(logging.WARNING):
        envelope = await slack.socket.send("interactive", payload)
        assert await slack.acked(envelope) == [{"envelope_id": envelope}]
        await until(lambda: slack.ephemerals(), "the private refusal")
    assert "could not handle this click" in slack.ephemerals()[0]
    assert tracebacks(caplog) == []


async def test_a_command_envelope_with_odd_fields_is_refused_in_its_ack(slack: SocketSlack) -> None:
    payload = {"command": "/ion", "text": {"not": "text"}, "user_id": "U0LEE", "channel_id": CHANNEL}
    envelope = await slack.socket.send("slash_commands", payload, accepts_response_payload=True)
    [ack] = await slack.acked(envelope)
    assert "could not handle this command" in ack["payload"]["text"]
    assert await slack.bot.store.open_run(CHANNEL) is None
