"""Confirm dialogs open within Slack's 3 s trigger window, however long planning takes.

The dialog opens as the click or command arrives ("Planning ..."), is filled in with the exact
diff once the plan is ready, and a trigger that expired anyway gives an ephemeral button whose
click (with a fresh trigger id) opens the dialog again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.ports import JSON, Action, ActionFactory, Change, Outcome, ProgressCallback, Target
from bot.engine.records import StepState
from bot.runbook.models import Environment, Runbook
from bot.sim.slack_api import FakeSlackApi
from tests.slack_app.conftest import CHANNEL, NAMES, Slack, find_element, started
from tests.slack_app.test_running import executions, step_card

WAIT = 10  # seconds before a test that waits on the bot gives up (a hang guard, not a timing claim)


class SlowPlanning:
    """The bot's actions, but reading live state waits for ``release``: Cloud Run answering slowly."""

    def __init__(self, inner: ActionFactory) -> None:
        self.inner = inner
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action:
        return SlowAction(self.inner.build(spec, runbook, environment), self)


class SlowAction:
    def __init__(self, inner: Action, slow: SlowPlanning) -> None:
        self.inner = inner
        self.slow = slow
        self.mutating = inner.mutating

    def describe(self) -> str:
        return self.inner.describe()

    def targets(self) -> Sequence[Target]:
        return self.inner.targets()

    async def snapshot(self, target: Target) -> JSON:
        self.slow.reading.set()
        await self.slow.release.wait()
        return await self.inner.snapshot(target)

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return self.inner.diff(target, snapshot)

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return await self.inner.apply(target, snapshot, progress)

    async def verify(self, target: Target) -> Outcome:
        return await self.inner.verify(target)

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return await self.inner.revert(target, snapshot, progress)

    async def read_back(self, target: Target) -> JSON:
        return await self.inner.read_back(target)


def slow_planning(slack: Slack) -> SlowPlanning:
    ctx = slack.bot.rollout._ctx
    slow = SlowPlanning(ctx.actions)
    ctx.actions = slow
    return slow


def typed(word: str) -> dict[str, Any]:
    return {"confirm_name": {"ion:typed_name": {"type": "plain_text_input", "value": word}}}


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def shown(slack: Slack, view_id: str) -> str:
    """The dialog as it is now in the fake workspace."""
    return text_of(slack.api.views[view_id])


async def approved_production(slack: Slack) -> str:
    """day1.1 asked for by lee and approved by sam: lee's next Run on production gets the dialog."""
    await started(slack)
    ts = await step_card(slack)
    await slack.click(ts, "ion:run:production", user="U0LEE")
    await slack.command("approve day1.1 production", user="U0SAM")
    return ts


async def click_ephemeral(slack: Slack, message: dict[str, Any], action_id: str, trigger_id: str) -> None:
    """Press a button on an ephemeral message, with the fresh trigger id Slack sends with each click."""
    element, block = find_element(message["blocks"], action_id)
    user = str(message["user"])
    await slack.interact(
        {
            "type": "block_actions",
            "team": {"id": "T0ION"},
            "user": {"id": user, "username": NAMES.get(user, user)},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "message_ts": "1761580800.999999", "is_ephemeral": True},
            "trigger_id": trigger_id,
            "actions": [{**element, "block_id": block.get("block_id"), "action_ts": "1"}],
        }
    )


async def test_the_dialog_opens_before_a_slow_plan_finishes_then_shows_the_diff_and_runs(slack: Slack) -> None:
    ts = await approved_production(slack)
    opened_before, updated_before = len(slack.api.calls("views.open")), len(slack.api.calls("views.update"))
    slow = slow_planning(slack)
    click = asyncio.create_task(slack.click(ts, "ion:run:production"))
    try:
        opened = await asyncio.wait_for(slack.api.wait_for("views.open", opened_before + 1), WAIT)
        await asyncio.wait_for(slow.reading.wait(), WAIT)
        assert "Planning day1.1 on production…" in text_of(opened["view"])
        assert "submit" not in opened["view"]
        assert len(slack.api.calls("views.update")) == updated_before  # the plan is not ready yet
    finally:
        slow.release.set()
    status, _ = await asyncio.wait_for(click, WAIT)
    assert status == 200
    update = slack.api.last("views.update")
    assert update is not None and update["hash"]
    view_id = str(update["view_id"])
    assert "demo-api" in shown(slack, view_id) and "minInstances" in shown(slack, view_id)
    assert slack.api.views[view_id]["submit"]["text"] == "Run on production"
    assert not any("could not open in time" in text for text in slack.ephemerals())
    status, body = await slack.submit(slack.api.views[view_id], typed("demo-api"))
    assert status == 200 and body == ""
    await slack.state.settle()
    assert await executions(slack, "production") == 1


async def test_the_dialog_opens_while_an_earlier_command_of_the_channel_is_still_planning(
    slack_acking: Slack,
) -> None:
    slack = slack_acking
    await slack.command("start slacktest")
    await slack.state.settle()
    slow = slow_planning(slack)
    try:
        await slack.command("run day1.1 staging")  # acked; its plan waits on the slow cloud
        await asyncio.wait_for(slow.reading.wait(), WAIT)
        await slack.command("run day1.1 production")  # acked; waits behind the staging command
        opened = await asyncio.wait_for(slack.api.wait_for("views.open"), WAIT)
        assert "Planning day1.1 on production…" in text_of(opened["view"])
        assert slack.api.calls("views.update") == []
    finally:
        slow.release.set()
    await slack.state.settle()
    update = slack.api.last("views.update")
    assert update is not None, slack.ephemerals()
    final = shown(slack, str(update["view_id"]))
    assert "Planning" not in final and "submit" not in slack.api.views[str(update["view_id"])]
    assert await executions(slack, "production") == 0


async def test_an_expired_trigger_gives_an_ephemeral_button_that_opens_the_dialog(slack: Slack) -> None:
    ts = await approved_production(slack)
    updated_before = len(slack.api.calls("views.update"))
    trigger = slack.new_trigger("U0LEE")
    slack.api.expire_trigger(trigger)
    await slack.click(ts, "ion:run:production", trigger_id=trigger)
    assert len(slack.api.calls("views.update")) == updated_before  # no dialog opened, none was filled in
    fallback = next(
        c for c in reversed(slack.api.calls("chat.postEphemeral")) if "could not open in time" in str(c["text"])
    )
    assert fallback["user"] == "U0LEE"
    await click_ephemeral(slack, fallback, "ion:run:production", slack.api.issue_trigger())
    update = slack.api.last("views.update")
    assert update is not None and len(slack.api.calls("views.update")) == updated_before + 1
    view = slack.api.views[str(update["view_id"])]
    assert "demo-api" in json.dumps(view) and view["submit"]["text"] == "Run on production"
    status, body = await slack.submit(view, typed("demo-api"))
    assert status == 200 and body == ""
    await slack.state.settle()
    assert await executions(slack, "production") == 1


async def test_a_plan_that_changed_after_the_dialog_showed_it_is_refused_on_submit(slack: Slack) -> None:
    ts = await approved_production(slack)
    await slack.click(ts, "ion:run:production")
    update = slack.api.last("views.update")
    assert update is not None
    view = slack.api.views[str(update["view_id"])]
    assert view.get("submit")
    assert slack.bot.sim is not None
    slack.bot.sim.world.add_service("test-prod", "us-central1", "demo-api", min_instances=7)  # someone edits it
    status, body = await slack.submit(view, typed("demo-api"))
    assert status == 200 and body == ""
    await slack.state.settle()
    assert any("The plan changed since you looked" in text for text in slack.ephemerals("U0LEE"))
    assert await executions(slack, "production") == 0


async def test_a_rollback_with_nothing_to_restore_says_so_in_the_dialog(slack: Slack) -> None:
    await started(slack)
    await slack.command("rollback day1.1")
    opened = slack.api.last("views.open")
    assert opened is not None and "Reading what rolling back day1.1 restores" in text_of(opened["view"])
    update = slack.api.last("views.update")
    assert update is not None
    view = slack.api.views[str(update["view_id"])]
    assert "no applied changes; nothing to restore" in json.dumps(view) and "submit" not in view
    assert any("nothing to restore" in text for text in slack.ephemerals("U0LEE"))


async def test_a_rollback_dialog_of_an_execution_that_was_replaced_is_refused_on_submit(slack: Slack) -> None:
    await started(slack)
    await slack.command("run day1.1 staging")
    await slack.state.settle()

    async def rollback_dialog() -> dict[str, Any]:
        await slack.command("rollback day1.1")
        update = slack.api.last("views.update")
        assert update is not None
        view = dict(slack.api.views[str(update["view_id"])])
        assert view.get("submit"), json.dumps(view)
        return view

    stale, current = await rollback_dialog(), await rollback_dialog()
    await slack.submit(current, typed("demo-api"))
    await slack.state.settle()
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    lane = await slack.bot.store.get_lane(run.id, "day1.1", "staging")
    assert lane is not None and lane.state is StepState.ROLLED_BACK
    await slack.command("run day1.1 staging")  # a new execution the stale dialog never showed
    await slack.state.settle()
    await slack.submit(stale, typed("demo-api"))
    await slack.state.settle()
    assert any("ran again since the dialog was opened" in text for text in slack.ephemerals("U0LEE"))
    lane = await slack.bot.store.get_lane(run.id, "day1.1", "staging")
    assert lane is not None and lane.state is not StepState.ROLLED_BACK


async def test_the_fake_expires_a_trigger_some_seconds_after_it_was_issued_and_checks_view_hashes() -> None:
    now = [100.0]
    async with FakeSlackApi(clock=lambda: now[0]) as api:
        web = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
        api.expire_triggers_after(3)
        modal = {"type": "modal", "title": {"type": "plain_text", "text": "Confirm run"}, "blocks": []}
        early = api.issue_trigger()
        now[0] += 2.5
        opened = await web.views_open(trigger_id=early, view=modal)
        late = api.issue_trigger()
        now[0] += 3.5
        with pytest.raises(SlackApiError, match="expired_trigger_id"):
            await web.views_open(trigger_id=late, view=modal)
        with pytest.raises(SlackApiError, match="hash_conflict"):
            await web.views_update(view_id=opened["view"]["id"], hash="not-the-hash", view=modal)
        updated = await web.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"], view=modal)
        assert updated["view"]["id"] == opened["view"]["id"]
        with pytest.raises(SlackApiError, match="not_found"):
            await web.views_update(view_id="V-never-opened", view=modal)


async def test_a_request_refused_before_planning_says_in_its_dialog_where_the_answer_went(slack: Slack) -> None:
    await slack.command("run day1.1 production")  # no run in this channel yet
    update = slack.api.last("views.update")
    assert update is not None
    final = shown(slack, str(update["view_id"]))
    assert "the bot answered in the channel" in final and "Planning" not in final
    assert any("start" in text for text in slack.ephemerals("U0LEE"))
