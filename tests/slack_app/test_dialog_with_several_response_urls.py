"""A dialog whose inputs ask Slack for more than one response URL (``response_urls`` with several
entries): Bolt logged a debug line about it to a context that had no logger yet, so the HTTP edge
refused the submission ("Bolt could not read it") and Socket Mode never acked it. Found by the
request screen's hypothesis test (tests/slack/test_request_shapes.py)."""

from __future__ import annotations

from typing import Any

from tests.slack_app.conftest import CHANNEL, NAMES, Slack
from tests.slack_app.test_dialog_during_outage import TYPED, run_dialog
from tests.slack_app.test_running import executions


async def test_a_confirmed_dialog_with_two_response_urls_runs_its_step_once(slack: Slack) -> None:
    view = await run_dialog(slack)
    urls = [
        {"block_id": "confirm_name", "action_id": "ion:typed_name", "channel_id": CHANNEL, "response_url": url}
        for url in (slack.api.response_url("first"), slack.api.response_url("second"))
    ]
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": "T0ION"},
        "user": {"id": "U0LEE", "username": NAMES["U0LEE"]},
        "trigger_id": slack.new_trigger("U0LEE"),
        "view": {**view, "state": {"values": TYPED}},
        "response_urls": urls,
    }

    status, body = await slack.interact(payload)
    await slack.state.settle()

    assert status == 200, body
    assert "could not handle" not in body
    assert await executions(slack, "production") == 1
