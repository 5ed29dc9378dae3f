"""A dialog submitted during a database outage, on SQLite and PostgreSQL: known out, the dialog
itself says so (the ack's view, no database needed); met after the ack, the answer goes to the
dialog's response_urls, or, when Slack sent none, to one warning line in the log.

The store refuses every transaction with StoreUnavailable (``refusing``, as the health watch makes
it refuse), so the outage is the store's own, without stopping a server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.http_retry import builtin_async_handlers

from bot.engine.errors import StoreUnavailable
from bot.sim.slack_api import FakeSlackApi
from bot.slack.delivery.outage import KNOWN_DOWN, MET_HALF_WAY
from tests.slack_app import conftest
from tests.slack_app.conftest import CHANNEL, NAMES, NoJitter, Slack, started
from tests.slack_app.test_malformed_requests import logged
from tests.slack_app.test_running import executions, step_card
from tests.store.conftest import database_url, migrated_postgres, migrated_sqlite_template  # noqa: F401

TYPED = {"confirm_name": {"ion:typed_name": {"type": "plain_text_input", "value": "demo-api"}}}
OUT = "the database cannot be reached or written (connection refused)"


@pytest.fixture
async def slack(
    database_url: str,  # noqa: F811  (the store tests' fixture: SQLite and PostgreSQL)
    tmp_path: Path,
    api: FakeSlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Slack]:
    monkeypatch.setattr(builtin_async_handlers, "random", NoJitter)
    async for harness in conftest.slack_harness(tmp_path, api, True, database_url=database_url):
        yield harness


async def run_dialog(slack: Slack) -> dict[str, Any]:
    """lee's production run dialog for day1.1, approved by sam and showing its plan, as Slack keeps it."""
    await started(slack)
    ts = await step_card(slack)
    await slack.click(ts, "ion:run:production", user="U0LEE")  # lee asks
    await slack.command("approve day1.1 production", user="U0SAM")
    await slack.click(ts, "ion:run:production", user="U0LEE")  # the dialog shows the plan
    shown = slack.api.last("views.update") or slack.api.last("views.open")
    assert shown is not None, slack.ephemerals()
    view_id = str(shown.get("view_id") or next(reversed(slack.api.views)))
    return slack.api.views[view_id]


async def submit(slack: Slack, view: dict[str, Any], response_url: str | None) -> tuple[int, str]:
    """Submit the dialog typed right; with ``response_url`` Slack's ``response_urls`` carry it."""
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": "T0ION"},
        "user": {"id": "U0LEE", "username": NAMES["U0LEE"]},
        "trigger_id": slack.new_trigger("U0LEE"),
        "view": {**view, "state": {"values": TYPED}},
        "response_urls": [],
    }
    if response_url is not None:
        where = {"block_id": "confirm_name", "action_id": "ion:typed_name", "channel_id": CHANNEL}
        payload["response_urls"] = [{**where, "response_url": response_url}]
    return await slack.interact(payload)


async def test_a_dialog_submitted_while_the_database_is_known_to_be_out_is_answered_in_its_ack(slack: Slack) -> None:
    view = await run_dialog(slack)
    assert slack.bot.health is not None
    await slack.bot.health.noticed(StoreUnavailable(OUT))  # the health watch knows; the store itself answers

    status, body = await submit(slack, view, None)

    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "update" and answer["view"]["type"] == "modal"
    assert [block["text"]["text"] for block in answer["view"]["blocks"]] == [KNOWN_DOWN]
    assert await executions(slack, "production") == 0  # the work was not even tried


async def test_a_dialog_whose_work_meets_the_outage_after_the_ack_is_answered_through_its_response_urls(
    slack: Slack,
) -> None:
    view = await run_dialog(slack)
    slack.bot.store.refusing = OUT  # out, and nobody knows yet

    status, body = await submit(slack, view, slack.api.response_url("dialog"))

    assert (status, body) == (200, "")  # acked before its work met the outage
    assert [r["text"] for r in slack.api.responses_to("dialog")] == [MET_HALF_WAY]
    assert slack.bot.health is not None and slack.bot.health.known_down  # noticed at once
    slack.bot.store.refusing = None
    assert await executions(slack, "production") == 0


async def test_a_dialog_without_response_urls_that_meets_the_outage_leaves_one_warning_line_and_no_traceback(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    view = await run_dialog(slack)
    slack.bot.store.refusing = OUT

    with logged(caplog) as log:
        status, body = await submit(slack, view, None)

    assert (status, body) == (200, "")
    assert [e["event"] for e in log.warnings if e["log_level"] == "warning"] == [
        "a request met a database outage and had no response_url; nobody could be told"
    ]
    assert log.tracebacks == [] and log.records == []
    slack.bot.store.refusing = None
    assert await executions(slack, "production") == 0


async def test_a_rollback_confirmed_in_its_dialog_that_meets_the_outage_is_answered_through_its_response_urls(
    slack: Slack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback runs after the dialog's listener has returned; the outage it meets there (the
    store goes away between the dialog's checks and the rollback's first write) is still answered."""
    await started(slack)
    await slack.command("run day1.1 staging")
    await slack.state.settle()
    await slack.command("rollback day1.1")
    update = slack.api.last("views.update")
    assert update is not None
    view = dict(slack.api.views[str(update["view_id"])])
    real = slack.bot.rollout.confirm_rollback

    async def store_gone_first(*args: Any, **kwargs: Any) -> Any:
        slack.bot.store.refusing = OUT
        return await real(*args, **kwargs)

    monkeypatch.setattr(slack.bot.rollout, "confirm_rollback", store_gone_first)
    where = {"block_id": "confirm_name", "action_id": "ion:typed_name", "channel_id": CHANNEL}
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": "T0ION"},
        "user": {"id": "U0LEE", "username": NAMES["U0LEE"]},
        "trigger_id": slack.new_trigger("U0LEE"),
        "view": {**view, "state": {"values": TYPED}},
        "response_urls": [{**where, "response_url": slack.api.response_url("rollback")}],
    }
    with logged(caplog) as log:
        status, _ = await slack.interact(payload)
        await slack.state.settle()

    assert status == 200
    assert [r["text"] for r in slack.api.responses_to("rollback")] == [MET_HALF_WAY]
    assert log.tracebacks == []
    slack.bot.store.refusing = None
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    lane = await slack.bot.store.get_lane(run.id, "day1.1", "staging")
    assert lane is not None and lane.state.value != "rolled_back"  # nothing was rolled back
