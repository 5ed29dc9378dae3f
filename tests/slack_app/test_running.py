"""Running steps from Slack: exactly once, with permissions, stale cards and typed confirmation."""

from __future__ import annotations

import asyncio
import json

from bot.engine.records import StepState
from tests.slack_app.conftest import CHANNEL, Slack, started


async def executions(slack: Slack, environment: str | None = None) -> int:
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    found = await slack.bot.store.executions(run.id)
    return sum(1 for e in found if e.kind == "apply" and environment in (None, e.environment))


def confirmations_offered(slack: Slack) -> int:
    """Dialogs that could be submitted: a refused request's dialog only ever says why, with no submit."""
    shown = [c["view"] for method in ("views.open", "views.update") for c in slack.api.calls(method)]
    return sum(1 for view in shown if view.get("submit"))


def dialog_text(slack: Slack) -> str:
    """What the dialogs show now, as the person would read them."""
    return json.dumps(list(slack.api.views.values()))


async def step_card(slack: Slack) -> str:
    await slack.command("step day1.1")
    return slack.card_ts("Step day1.1")


async def test_a_retried_run_command_starts_one_execution_and_says_it_is_running(slack: Slack) -> None:
    await started(slack)
    await slack.command("run day1.1 staging")
    await slack.command("run day1.1 staging", retry=1)
    assert await executions(slack, "staging") == 1
    assert any("Slack delivered this request again" in text for text in slack.ephemerals("U0LEE"))


async def test_twenty_concurrent_run_clicks_give_one_execution(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    users = ["U0LEE", "U0SAM", "U0DANA"]
    results = await asyncio.gather(*(slack.click(ts, "ion:run:staging", users[n % 3]) for n in range(20)))
    assert all(status == 200 for status, _ in results)
    await slack.state.settle()
    assert await executions(slack, "staging") == 1


async def test_the_card_is_updated_in_place_and_progress_goes_to_its_thread(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    await slack.click(ts, "ion:run:staging")
    await slack.state.settle()
    updates = [c for c in slack.api.calls("chat.update") if c.get("ts") == ts]
    assert updates, "the step card was never updated"
    assert ":white_check_mark: done" in json.dumps(slack.api.messages[(CHANNEL, ts)]["blocks"])
    threaded = [p for p in slack.posted() if p.get("thread_ts") == ts]
    assert any("Done: day1.1 on staging" in str(p.get("text")) for p in threaded) or any(
        "Done: day1.1 on staging" in str(u.get("text")) for u in slack.api.calls("chat.update")
    )


async def test_a_member_pressing_run_on_production_is_refused_privately_and_audited(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    await slack.click(ts, "ion:run:production", user="U0DANA")
    assert any("dana may not run steps in production" in text for text in slack.ephemerals("U0DANA"))
    audit = await slack.bot.store.audit()
    assert any(e.actor_id == "U0DANA" and e.outcome == "refused" for e in audit)
    assert await executions(slack) == 0
    assert confirmations_offered(slack) == 0
    assert "dana may not run steps in production" in dialog_text(slack)


async def test_self_approval_of_a_production_step_is_refused_and_audited(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    await slack.click(ts, "ion:run:production", user="U0LEE")
    assert any("still needs 1 x an approver" in text for text in slack.ephemerals("U0LEE"))
    await slack.command("approve day1.1 production", user="U0LEE")
    await slack.click(slack.card_ts("Step day1.1"), "ion:run:production", user="U0LEE")
    # Four eyes holds at the vote (engine) or, at the latest, before any dialog or execution.
    refusals = [t for t in slack.ephemerals("U0LEE") if "four eyes" in t or "own approval does not count" in t]
    assert len(refusals) >= 2
    assert confirmations_offered(slack) == 0
    assert "own approval does not count" in dialog_text(slack)
    assert await executions(slack, "production") == 0
    audit = await slack.bot.store.audit()
    assert any(e.actor_id == "U0LEE" and e.outcome == "refused" for e in audit)


async def test_a_stale_card_is_refused_and_redrawn(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    old_blocks = slack.api.messages[(CHANNEL, ts)]["blocks"]
    await slack.command("run day1.1 staging")
    await slack.state.settle()
    slack.api.messages[(CHANNEL, ts)]["blocks"] = old_blocks  # the person still sees the old card
    updates_before = len(slack.api.calls("chat.update"))
    await slack.click(ts, "ion:approve:staging", user="U0SAM")
    assert any("out of date" in text for text in slack.ephemerals("U0SAM"))
    assert len(slack.api.calls("chat.update")) > updates_before
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    votes = await slack.bot.store.approvals(run.id, "day1.1", "staging")
    assert votes == []


async def test_the_production_modal_refuses_a_wrong_name_and_runs_on_the_right_one(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    await slack.click(ts, "ion:run:production", user="U0LEE")  # lee asks
    await slack.command("approve day1.1 production", user="U0SAM")  # sam (on-call group) approves
    await slack.click(ts, "ion:run:production", user="U0LEE")
    opened = slack.api.last("views.update")  # the dialog opened on the click, then showed the plan
    assert opened is not None, slack.ephemerals()
    view = opened["view"]
    assert "demo-api" in json.dumps(view) and "minInstances" in json.dumps(view)

    def typed(word: str) -> dict[str, object]:
        return {"confirm_name": {"ion:typed_name": {"type": "plain_text_input", "value": word}}}

    status, body = await slack.submit(view, typed("demo-apx"))
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert await executions(slack, "production") == 0
    status, body = await slack.submit(view, typed("demo-api"))
    assert status == 200 and body == ""
    await slack.state.settle()
    assert await executions(slack, "production") == 1
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    lane = await slack.bot.store.get_lane(run.id, "day1.1", "production")
    assert lane is not None and lane.state in (StepState.VERIFYING, StepState.DONE)


async def test_ticking_a_checkbox_ticks_the_item_and_unticking_removes_it(slack: Slack) -> None:
    await started(slack)
    ts = await step_card(slack)
    message = slack.api.messages[(CHANNEL, ts)]
    block = next(b for b in message["blocks"] if str(b.get("block_id", "")).startswith("tick:"))
    element = block["elements"][0]
    first = element["options"][0]
    payload = {
        "type": "block_actions",
        "user": {"id": "U0DANA", "username": "dana"},
        "channel": {"id": CHANNEL},
        "container": {"message_ts": ts, "channel_id": CHANNEL},
        "message": {"ts": ts, "blocks": message["blocks"]},
        "trigger_id": slack.new_trigger("U0DANA"),
        "actions": [{**element, "block_id": block["block_id"], "selected_options": [first]}],
    }
    await slack.interact(payload)
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    assert [t.item_id for t in await slack.bot.store.ticks(run.id, "day1.1")] == ["dashboards"]
    payload["actions"] = [{**element, "block_id": block["block_id"], "selected_options": []}]
    payload["trigger_id"] = slack.new_trigger("U0DANA")  # another click, another trigger id
    await slack.interact(payload)
    assert await slack.bot.store.ticks(run.id, "day1.1") == []


async def test_a_refusal_made_in_the_chat_layer_is_audited_once_as_engine_ones_are(slack: Slack) -> None:
    await slack.command("start week99", user="U0LEE")  # refused before the engine: the wrong runbook
    assert any("not 'week99'" in text for text in slack.ephemerals("U0LEE"))
    await started(slack)
    await slack.command("tick day1.1 no-such-item", user="U0DANA")  # refused by the engine
    audit = [e for e in await slack.bot.store.audit() if e.outcome == "refused"]
    assert [(e.actor_id, e.what) for e in audit if e.actor_id == "U0LEE"] == [("U0LEE", "/ion start")]
    assert len([e for e in audit if e.actor_id == "U0DANA"]) == 1  # the engine's entry, not a second one
    assert "week99" in str(audit[0].detail)
