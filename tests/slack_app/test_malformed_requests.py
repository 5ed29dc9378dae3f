"""Malformed and unexpected requests at the real aiohttp endpoint: never a 5xx, one warning line,
no traceback; signed but unexpected clicks and commands are refused privately and change nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.slack_app.conftest import CHANNEL, Slack, signed, started

FORM = "application/x-www-form-urlencoded"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


class Logged:
    """What the bot wrote to its logs during one request: structlog events and stdlib records."""

    def __init__(self, events: list[dict[str, Any]], records: list[logging.LogRecord]) -> None:
        self.events = events
        self.records = records

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_level") in ("warning", "error", "critical")]

    @property
    def tracebacks(self) -> list[str]:
        found = [str(e.get("event")) for e in self.events if e.get("exc_info") or e.get("log_level") == "exception"]
        return found + [r.getMessage() for r in self.records if r.exc_info]


@contextmanager
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Logged]:
    caplog.clear()
    with caplog.at_level(logging.WARNING), structlog.testing.capture_logs() as events:
        result = Logged(events, [])
        yield result
    result.records = [r for r in caplog.records if r.levelno >= logging.WARNING]


async def raw_post(slack: Slack, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with slack.http.post(slack.url + "/slack/events", data=body, headers=headers) as response:
        return response.status, await response.text()


def signed_bytes(body: bytes, **overrides: str) -> dict[str, str]:
    """Headers signing exactly ``body`` (``signed`` signs text; these bytes need not be UTF-8)."""
    import hashlib
    import hmac
    import time

    from tests.slack_app.conftest import SECRET

    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": FORM, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", **overrides}


def click_payload(actions: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0ION"},
        "user": {"id": "U0LEE", "username": "lee"},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
        "trigger_id": "trigger-U0LEE",
        "actions": actions,
        **extra,
    }


UNSIGNED = {
    "no headers at all": (b"command=%2Fion&text=status", {"Content-Type": FORM}),
    "a timestamp that is not a number": (
        b"command=%2Fion&text=status",
        {"Content-Type": FORM, "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
    ),
    "a signature that is not hex": (
        b"command=%2Fion&text=status",
        {"Content-Type": FORM, "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=zz"},
    ),
    "a payload that is not JSON": (b"payload=%7Bnot+json", {"Content-Type": FORM}),
    "a null payload": (b"payload=null", {"Content-Type": FORM}),
    "a body that is not UTF-8": (b"payload=\xff\xfe\x00", {"Content-Type": FORM}),
}


@pytest.mark.parametrize("body,headers", UNSIGNED.values(), ids=list(UNSIGNED))
async def test_unsigned_junk_gets_a_401_and_one_warning_line_without_a_traceback(
    slack: Slack, caplog: pytest.LogCaptureFixture, body: bytes, headers: dict[str, str]
) -> None:
    with logged(caplog) as log:
        status, _ = await raw_post(slack, body, headers)
    assert status == 401
    assert [e["event"] for e in log.warnings] == ["slack request refused"] and log.tracebacks == []
    assert log.records == [] and slack.api.recorded == []


SIGNED_UNREADABLE = {
    "a payload that is not JSON": b"payload=%7Bnot+json",
    "a null payload": b"payload=null",
    "a payload that is a list": b"payload=%5B1%2C2%5D",
    "a payload that is a string": b"payload=%22x%22",
    "a body that is not UTF-8": b"payload=\xff\xfe\x00",
    "a JSON body that is a list": b"[1, 2]",
    "a JSON body nested too deep": b"{" + b'"a":[' * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("body", SIGNED_UNREADABLE.values(), ids=list(SIGNED_UNREADABLE))
async def test_a_signed_body_that_cannot_be_read_gets_a_400_and_one_warning_line(
    slack: Slack, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    with logged(caplog) as log:
        status, text = await raw_post(slack, body, signed_bytes(body))
    assert status == 400, text
    assert len(log.warnings) == 1 and log.warnings[0]["signed"] is True and log.tracebacks == []
    assert log.records == [] and slack.api.recorded == []


UNEXPECTED_CLICKS = {
    "no actions": [],
    "actions that are text": "x",
    "an action without action_id": [{"value": "{}"}],
    "an action id that is a number": [{"action_id": 7}],
    "an action that is a list": [[1]],
    "a value that is an object": [{"action_id": "ion:approve", "value": {"run": "r"}}],
}


@pytest.mark.parametrize("actions", UNEXPECTED_CLICKS.values(), ids=list(UNEXPECTED_CLICKS))
async def test_a_signed_click_of_an_unexpected_shape_is_refused_privately_and_changes_nothing(
    slack: Slack, caplog: pytest.LogCaptureFixture, actions: Any
) -> None:
    await started(slack)
    audit_before = await slack.bot.store.audit()
    with logged(caplog) as log:
        status, _ = await slack.interact(click_payload(actions))
        await slack.state.settle()
    assert status == 200
    [refusal] = slack.ephemerals("U0LEE")[-1:]
    assert "could not handle this click" in refusal and "Nothing was changed" in refusal
    assert len(log.warnings) == 1 and log.tracebacks == [] and log.records == []
    assert await slack.bot.store.audit() == audit_before


async def test_a_signed_click_that_names_no_channel_gets_a_400_as_nobody_can_be_told(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    payload = click_payload([], channel=None, container=None)
    with logged(caplog) as log:
        status, _ = await slack.interact(payload)
    assert status == 400 and len(log.warnings) == 1 and log.tracebacks == []
    assert slack.api.recorded == []


async def test_a_signed_command_with_odd_fields_is_refused_in_its_ack(slack: Slack) -> None:
    body = json.dumps({"command": "/ion", "text": ["status"], "user_id": "U0LEE", "channel_id": CHANNEL})
    status, text = await slack.post(body, content_type="application/json")
    assert status == 200
    answer = json.loads(text)
    assert answer["response_type"] == "ephemeral" and "could not handle this command" in answer["text"]
    assert slack.api.recorded == []


async def test_a_signed_dialog_submission_of_an_odd_shape_is_answered_inside_the_dialog(slack: Slack) -> None:
    view = {"callback_id": "ion:confirm_run", "state": {"values": {"block": "not an object"}}}
    status, text = await slack.interact({"type": "view_submission", "user": {"id": "U0LEE"}, "view": view})
    assert status == 200
    answer = json.loads(text)
    assert answer["response_action"] == "update" and "could not handle this dialog" in json.dumps(answer["view"])


async def test_a_command_whose_text_says_payload_is_still_a_command(slack: Slack) -> None:
    await started(slack)
    status, _ = await slack.command("incident payload service returns 500s")
    assert status == 200
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    assert [i.text for i in await slack.bot.store.incidents(run.id)] == ["payload service returns 500s"]


# --- fuzzed ---------------------------------------------------------------------------------

SKELETON = click_payload([{"action_id": "ion:approve:staging", "value": '{"run":"r1","step":"day1.1"}'}])
DIALOG = {
    "type": "view_submission",
    "user": {"id": "U0MARIA", "username": "maria"},
    "view": {
        "type": "modal",
        "callback_id": "ion:reject",
        "private_metadata": '{"run":"r1","step":"day1.1","env":"staging","channel":"C0ROLLOUT"}',
        "state": {"values": {"reason": {"ion:reason": {"type": "plain_text_input", "value": "because"}}}},
    },
}
PATHS: list[tuple[Any, ...]] = [("type",), ("user",), ("user", "id"), ("channel",), ("channel", "id"), ("actions",)]
PATHS += [("actions", 0), ("actions", 0, "action_id"), ("actions", 0, "value"), ("team",), ("trigger_id",)]
PATHS += [("message",), ("authorizations",), ("response_urls",), ("enterprise",), ("container",)]
DIALOG_PATHS: list[tuple[Any, ...]] = [("view",), ("view", "type"), ("view", "callback_id"), ("view", "state")]
DIALOG_PATHS += [("view", "private_metadata"), ("view", "state", "values"), ("view", "state", "values", "reason")]
DIALOG_PATHS += [("view", "state", "values", "reason", "ion:reason"), ("user",), ("type",)]
DIALOG_PATHS += [("view", "state", "values", "reason", "ion:reason", "value")]


def mutated(path: tuple[Any, ...], value: Any, skeleton: dict[str, Any] = SKELETON) -> dict[str, Any]:
    payload: Any = json.loads(json.dumps(skeleton))
    where = payload
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    return dict(payload)


TEXTS = st.text(max_size=40)


def as_interaction(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


BODIES = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(TEXTS, TEXTS, max_size=5).map(lambda d: urlencode(d).encode()),
    st.builds(mutated, st.sampled_from(PATHS), JSON_VALUES).map(as_interaction),
    st.builds(mutated, st.sampled_from(DIALOG_PATHS), JSON_VALUES, st.just(DIALOG)).map(as_interaction),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    JSON_VALUES.map(as_interaction),
    st.dictionaries(TEXTS, JSON_VALUES, max_size=4).map(
        lambda d: json.dumps({"command": "/ion", "user_id": "U0LEE", "channel_id": CHANNEL, **d}).encode()
    ),
)
FUZZ = settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=BODIES, content_type=st.sampled_from([FORM, "application/json", "text/plain"]))
async def test_fuzzed_signed_requests_never_get_a_5xx_or_log_a_traceback(
    slack: Slack, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    with logged(caplog) as log:
        status, text = await raw_post(slack, body, signed_bytes(body, **{"Content-Type": content_type}))
        await slack.state.settle()
    assert status < 500, text
    assert log.tracebacks == []
    if status >= 400:
        assert len(log.warnings) == 1, log.warnings


@FUZZ
@given(
    body=BODIES,
    timestamp=st.one_of(st.none(), st.text(max_size=12), st.integers(min_value=-(10**12), max_value=10**12).map(str)),
    signature=st.one_of(st.none(), st.text(max_size=70), st.just("v0=" + "a" * 64)),
)
async def test_fuzzed_unsigned_requests_get_a_401_and_one_warning_line(
    slack: Slack, caplog: pytest.LogCaptureFixture, body: bytes, timestamp: str | None, signature: str | None
) -> None:
    headers = {"Content-Type": FORM}
    for name, value in (("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", signature)):
        if value is not None and value.isprintable() and value.isascii():
            headers[name] = value
    with logged(caplog) as log:
        status, _ = await raw_post(slack, body, headers)
    assert status == 401
    assert len(log.warnings) == 1 and log.tracebacks == [] and log.records == []
    assert slack.api.recorded == []


def test_the_fuzzed_skeleton_itself_is_a_click_the_bot_handles() -> None:
    """The mutations start from a body the screen accepts, so each one tests one odd field."""
    from bot.slack.transport.shapes import problem

    assert problem(SKELETON) is None and problem(DIALOG) is None
    assert signed("x")  # the harness's signer is the one the endpoint checks against


async def test_a_body_over_the_size_limit_gets_a_413_and_one_warning_line(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"payload=" + b"x" * (2 * 1024 * 1024)
    with logged(caplog) as log:
        status, _ = await raw_post(slack, body, signed_bytes(body))
    assert status == 413
    assert len(log.warnings) == 1 and log.tracebacks == [] and log.records == []


async def test_slacks_own_url_verification_and_ssl_check_still_pass_the_edge(slack: Slack) -> None:
    challenge = '{"type": "url_verification", "challenge": "c-123"}'
    status, text = await slack.post(challenge, content_type="application/json")
    assert status == 200 and "c-123" in text
    status, _ = await slack.post("ssl_check=1&token=unused")
    assert status == 200


async def test_a_listener_that_fails_before_its_ack_still_gives_no_500_but_a_private_sentence(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.slack import app as slack_app

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug before the ack")

    monkeypatch.setattr(slack_app, "open_at_once", broken)  # the one call made before every ack
    status, text = await slack.command("status")
    assert status == 200
    assert "could not handle this command" in json.loads(text)["text"]
