"""The logs: tracebacks survive in JSON, stdlib lines share the format, and no secret is ever written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from bot.logs import configure_logging, redact

BOT_TOKEN = "xoxb-999-888-secretbottoken"
APP_TOKEN = "xapp-1-A0-777-secretapptoken"
USER_TOKEN = "xoxp-123-456-usertoken"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
DB_PASSWORD = "hunter2-db-password"

Logs = Callable[..., io.StringIO]


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Configure logging into a buffer; put structlog and the root logger back afterwards."""
    previous = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def configure(fmt: str = "json", **kwargs: Any) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(fmt, stream=stream, **kwargs)
        return stream

    yield configure
    structlog.configure(**previous)
    root.handlers, root.level = handlers, level


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def fail_deep() -> None:
    raise ValueError("the outbox row vanished")


def test_log_exception_in_json_carries_the_traceback_as_a_string(logs: Logs) -> None:
    stream = logs()
    try:
        fail_deep()
    except ValueError:
        structlog.get_logger("bot.slack.delivery.outbox").exception("outbox pass failed")
    [event] = lines(stream)
    assert event["event"] == "outbox pass failed" and event["level"] == "error"
    assert "exc_info" not in event
    assert event["exception"].startswith("Traceback (most recent call last):")
    assert "in fail_deep" in event["exception"]
    assert "ValueError: the outbox row vanished" in event["exception"]


def test_log_exception_on_the_console_prints_a_readable_traceback_under_the_line(logs: Logs) -> None:
    stream = logs("console")
    try:
        fail_deep()
    except ValueError:
        structlog.get_logger().exception("outbox pass failed")
    text = stream.getvalue()
    assert "outbox pass failed" in text
    assert "Traceback (most recent call last):" in text
    assert "ValueError: the outbox row vanished" in text
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal


def test_secrets_nested_in_dicts_lists_and_tuples_are_masked(logs: Logs) -> None:
    stream = logs()
    structlog.get_logger().info(
        "slack call",
        headers={"Authorization": f"Bearer {BOT_TOKEN}", "Content-Type": "application/json"},
        retries=[{"attempt": 1, "auth": f"Bearer {USER_TOKEN}"}],
        pair=("token", APP_TOKEN),
        url=f"postgresql+asyncpg://ion:{DB_PASSWORD}@10.0.0.5/ion",
    )
    text = stream.getvalue()
    for secret in (BOT_TOKEN, USER_TOKEN, APP_TOKEN, DB_PASSWORD):
        assert secret not in text
    [event] = lines(stream)
    assert event["headers"] == {"Authorization": "***", "Content-Type": "application/json"}
    assert event["retries"] == [{"attempt": 1, "auth": "Bearer ***"}]
    assert event["pair"] == ["token", "***"]
    assert event["url"] == "postgresql+asyncpg://ion:***@10.0.0.5/ion"


def test_a_stdlib_warning_from_slack_sdk_is_json_and_redacted(logs: Logs) -> None:
    stream = logs()
    logging.getLogger("slack_sdk").warning("Failed to send a request with token %s", BOT_TOKEN)
    text = stream.getvalue()
    assert BOT_TOKEN not in text and "xoxb-999" not in text
    [event] = lines(stream)
    assert event["logger"] == "slack_sdk" and event["level"] == "warning"
    assert event["event"] == "Failed to send a request with token ***"
    assert "timestamp" in event


def test_a_stdlib_exception_from_aiohttp_keeps_its_traceback_without_the_secret(logs: Logs) -> None:
    stream = logs(secrets=[SIGNING_SECRET])
    try:
        raise RuntimeError(f"bad signature computed with {SIGNING_SECRET}")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    assert SIGNING_SECRET not in stream.getvalue()
    [event] = lines(stream)
    assert event["logger"] == "aiohttp.server" and event["level"] == "error"
    assert "Traceback (most recent call last):" in event["exception"]
    assert "RuntimeError: bad signature computed with ***" in event["exception"]


def test_the_known_signing_secret_is_masked_even_inside_a_repr(logs: Logs) -> None:
    class Request:
        def __repr__(self) -> str:
            return f"Request(secret={SIGNING_SECRET})"

    stream = logs(secrets=[SIGNING_SECRET, None, "short"])
    structlog.get_logger().info("verifying", request=Request(), note="short words stay")
    logging.getLogger("slack_bolt").error("verification failed for %r", Request())
    text = stream.getvalue()
    assert SIGNING_SECRET not in text
    assert text.count("Request(secret=***)") == 2
    assert "short words stay" in text


def test_stdlib_levels_follow_the_configured_level(logs: Logs) -> None:
    stream = logs(level="WARNING")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("sqlalchemy.engine").warning("pool overflow")
    assert [event["event"] for event in lines(stream)] == ["pool overflow"]


def test_configuring_twice_writes_each_stdlib_line_once(logs: Logs) -> None:
    logs()
    stream = logs()
    logging.getLogger("slack_bolt").warning("listener slow")
    assert [event["event"] for event in lines(stream)] == ["listener slow"]


def test_redact_masks_every_shape_of_credential_and_keeps_container_types() -> None:
    assert redact(f"token {BOT_TOKEN} and {APP_TOKEN}") == "token *** and ***"
    assert redact("xoxe-1-refresh xoxs-2-session xoxo-3 xoxr-4") == "*** *** *** ***"
    assert redact("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"
    assert redact("postgresql://user:pass@db:5432/x") == "postgresql://user:***@db:5432/x"
    assert redact("sqlite+aiosqlite:///./ion.db") == "sqlite+aiosqlite:///./ion.db"
    assert redact((1, [f"Bearer {USER_TOKEN}"], {"password": "p", "dry_run": True})) == (
        1,
        ["Bearer ***"],
        {"password": "***", "dry_run": True},
    )


def test_the_console_and_simulate_log_file_is_private_json_with_secrets_masked(tmp_path: Any) -> None:
    from bot.console.runner import logs_to_file

    path = tmp_path / "bot.log"
    path.write_text("")
    path.chmod(0o644)  # as an older version left it
    root_handlers = list(logging.getLogger().handlers)
    with logs_to_file(path):
        structlog.get_logger("t").info("posting", token=BOT_TOKEN, url=f"postgresql://ion:{DB_PASSWORD}@db/ion")
        logging.getLogger("slack_sdk").warning("retrying with Authorization: Bearer %s", USER_TOKEN)
        logging.getLogger("sqlalchemy").info("below WARNING from a library: left out")
    text = path.read_text()
    assert BOT_TOKEN not in text and DB_PASSWORD not in text and USER_TOKEN not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["event"].split(" ")[0] for line in lines] == ["posting", "retrying"]
    assert path.stat().st_mode & 0o077 == 0  # only its owner can read it
    assert logging.getLogger().handlers == root_handlers  # the terminal's logging is back as it was
