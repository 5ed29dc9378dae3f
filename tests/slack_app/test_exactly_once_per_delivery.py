"""Issue 13: every mutating command, click and dialog submission, delivered four times by Slack
(first without, then with X-Slack-Retry-Num 1, 2, 3: the same signed body each time), does its
work once, writes its audit once, and each redelivery is answered once with the first answer.

Each case runs through the real endpoint on SQLite and on PostgreSQL. "Nothing changed" is checked
on every table the bot keeps (all but the outbox and the delivery records themselves), so a
command that grows a new effect later is held to exactly once without this test knowing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.http_retry import builtin_async_handlers
from sqlalchemy import select

from bot.bootstrap import Bot
from bot.reports.commands import ReportCommands
from bot.reports.service import build_report_services
from bot.sim.slack_api import FakeSlackApi
from bot.slack.delivery.outbox import Outbox
from bot.slack.delivery.report_poster import SlackReportPoster
from bot.store import deliveries
from bot.store.tables import Base
from tests.slack_app import conftest
from tests.slack_app.conftest import CHANNEL, NAMES, NoJitter, Slack, started
from tests.store.conftest import database_url, migrated_postgres, migrated_sqlite_template  # noqa: F401

GATE = {"id": "gonogo.day2", "title": "Go/No-Go day 2", "day": 2, "at": "09:00", "unlocks_day": 2, "signoffs": ["lead"]}
COST = {"cost": [{"service": "Cloud Run", "current_usd": 1200, "target_usd": 950}]}
NOT_STATE = {"outbox", "deliveries"}  # how the bot talks and remembers requests, not what it did
AGAIN = "Slack delivered this request again"
Send = Callable[[int | None], Awaitable[tuple[int, str]]]


@pytest.fixture
async def slack(
    database_url: str,  # noqa: F811  (the store tests' fixture: SQLite and PostgreSQL)
    tmp_path: Path,
    api: FakeSlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Slack]:
    """The Slack harness on the test runbook with a day-2 Go/No-Go and a cost target, reports on."""
    runbook = yaml.safe_load(conftest.RUNBOOK.read_text())
    runbook["gates"] = [GATE]
    runbook["targets"] = COST
    path = tmp_path / "runbook.yaml"
    path.write_text(yaml.safe_dump(runbook))
    monkeypatch.setattr(conftest, "RUNBOOK", path)
    monkeypatch.setattr(builtin_async_handlers, "random", NoJitter)

    def reports(bot: Bot, outbox: Outbox) -> ReportCommands:
        return build_report_services(bot, SlackReportPoster(outbox, outbox.client)).commands

    async for harness in conftest.slack_harness(tmp_path, api, True, reports, database_url=database_url):
        yield harness


# --- what a request is, sent again and again ----------------------------------------------------


def command(text: str) -> Callable[[Slack, str], Awaitable[Send]]:
    async def prepare(slack: Slack, user: str) -> Send:
        trigger = slack.new_trigger(user)
        return lambda retry: slack.command(text, user, retry=retry, trigger_id=trigger)

    return prepare


def click(action_prefix: str, label: str | None = None) -> Callable[[Slack, str], Awaitable[Send]]:
    """The newest message's element whose action id starts with ``action_prefix`` (and shows ``label``)."""

    async def prepare(slack: Slack, user: str) -> Send:
        ts, action_id = find_action(slack, action_prefix, label)
        payload = slack.click_payload(ts, action_id, user, slack.new_trigger(user))
        return lambda retry: slack.interact(payload, retry=retry)

    return prepare


def tick_box() -> Callable[[Slack, str], Awaitable[Send]]:
    async def prepare(slack: Slack, user: str) -> Send:
        ts, action_id = find_action(slack, "ion:tick")
        payload = slack.click_payload(ts, action_id, user, slack.new_trigger(user))
        action = payload["actions"][0]
        action["selected_options"] = [action["options"][0]]  # the first box, now ticked
        return lambda retry: slack.interact(payload, retry=retry)

    return prepare


def submit(values: dict[str, Any]) -> Callable[[Slack, str], Awaitable[Send]]:
    """The dialog the bot opened or filled in last, submitted with ``values`` (its id and hash as Slack keeps them)."""

    async def prepare(slack: Slack, user: str) -> Send:
        shown = slack.api.last("views.update") or slack.api.last("views.open")
        assert shown is not None, slack.ephemerals()
        view_id = str(shown.get("view_id") or next(reversed(slack.api.views)))
        payload = {
            "type": "view_submission",
            "team": {"id": "T0ION"},
            "user": {"id": user, "username": NAMES.get(user, user)},
            "trigger_id": slack.new_trigger(user),
            "view": {**slack.api.views[view_id], "state": {"values": values}},
        }
        return lambda retry: slack.interact(payload, retry=retry)

    return prepare


def find_action(slack: Slack, prefix: str, label: str | None = None) -> tuple[str, str]:
    for (channel, ts), message in reversed(list(slack.api.messages.items())):
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                action_id = str(element.get("action_id", ""))
                if channel == CHANNEL and action_id.startswith(prefix) and label in (None, _label(element)):
                    return ts, action_id
    raise AssertionError(f"no element {prefix} {label or ''} on any message")


def _label(element: dict[str, Any]) -> str:
    text = element.get("text")
    return str(text.get("text", "")) if isinstance(text, dict) else str(text or "")


# --- the state each request meets -------------------------------------------------------------


async def nothing(slack: Slack) -> None:
    return None


async def run_started(slack: Slack) -> None:
    await started(slack)


async def step_card(slack: Slack) -> None:
    await started(slack)
    await slack.command("step day1.1")


async def ticked(slack: Slack) -> None:
    await started(slack)
    await slack.command("tick day1.1 dashboards", user="U0DANA")


async def paused(slack: Slack) -> None:
    await started(slack)
    await slack.command("pause")


async def ran_on_staging(slack: Slack) -> None:
    await started(slack)
    await slack.command("run day1.1 staging")
    await slack.state.settle()
    await slack.command("step day1.1")


async def alert_card(slack: Slack) -> None:
    await started(slack)
    await slack.command("incident the API returns 500s", user="U0SAM")


async def gate_card(slack: Slack) -> None:
    await started(slack)
    await slack.command("gonogo day2")


async def gate_no(slack: Slack) -> None:
    await started(slack)
    maria = slack.bot.rollout.policy.actor("U0MARIA", "maria")
    await slack.bot.rollout.gate_decide(CHANNEL, "gonogo.day2", False, "error budget burnt", maria)


async def reject_dialog(slack: Slack) -> None:
    await step_card(slack)
    await slack.click(slack.card_ts("Step day1.1"), "ion:reject:staging", user="U0SAM")


async def gate_no_dialog(slack: Slack) -> None:
    await gate_card(slack)
    ts, action_id = find_action(slack, "ion:gate_decide:no")
    await slack.click(ts, action_id, user="U0MARIA")


async def production_dialog(slack: Slack) -> None:
    await step_card(slack)
    ts = slack.card_ts("Step day1.1")
    await slack.click(ts, "ion:run:production", user="U0LEE")  # lee asks
    await slack.command("approve day1.1 production", user="U0SAM")
    await slack.click(ts, "ion:run:production", user="U0LEE")  # the dialog shows the plan


REASON = {"reason": {"ion:reason": {"type": "plain_text_input", "value": "the plan scales the wrong service"}}}
TYPED = {"confirm_name": {"ion:typed_name": {"type": "plain_text_input", "value": "demo-api"}}}


@dataclass(frozen=True)
class Case:
    name: str
    user: str
    setup: Callable[[Slack], Awaitable[None]]
    request: Callable[[Slack, str], Awaitable[Send]]


CASES = [
    Case("/ion start", "U0LEE", nothing, command("start slacktest")),
    Case("/ion incident", "U0SAM", run_started, command("incident the API returns 500s")),
    Case("/ion approve", "U0SAM", run_started, command("approve day1.1 staging")),
    Case("/ion reject", "U0SAM", run_started, command("reject day1.1 the plan scales the wrong service")),
    Case("/ion tick", "U0DANA", run_started, command("tick day1.1 dashboards")),
    Case("/ion untick", "U0DANA", ticked, command("untick day1.1 dashboards")),
    Case("/ion waive", "U0LEE", run_started, command("waive day1.1 oncall told on the phone")),
    Case("/ion skip", "U0LEE", run_started, command("skip day1.1 not needed this week")),
    Case("/ion pause", "U0LEE", run_started, command("pause")),
    Case("/ion resume", "U0LEE", paused, command("resume")),
    Case("/ion finish", "U0LEE", run_started, command("finish abandoned for the test")),
    Case("/ion cost", "U0LEE", run_started, command("cost cloud-run 950")),
    Case("/ion run", "U0LEE", run_started, command("run day1.1 staging")),
    Case("/ion rollback", "U0SAM", ran_on_staging, command("rollback day1.1")),
    Case("/ion gonogo", "U0LEE", run_started, command("gonogo day2")),
    Case("/ion reopen", "U0LEE", gate_no, command("reopen day2 error budget recovered")),
    Case("Approve button", "U0SAM", step_card, click("ion:approve:staging")),
    Case("Run button", "U0LEE", step_card, click("ion:run:staging")),
    Case("Roll back button", "U0SAM", ran_on_staging, click("ion:rollback")),
    Case("checklist box", "U0DANA", step_card, tick_box()),
    Case("Acknowledge button", "U0SAM", alert_card, click("ion:ack")),
    Case("Hold button", "U0SAM", alert_card, click("ion:hold")),
    Case("gate YES button", "U0LEE", gate_card, click("ion:gate_decide:yes")),
    Case("sign-off button", "U0LEE", gate_card, click("ion:signoff:lead")),
    Case("reject dialog", "U0SAM", reject_dialog, submit(REASON)),
    Case("gate NO dialog", "U0MARIA", gate_no_dialog, submit(REASON)),
    Case("production run dialog", "U0LEE", production_dialog, submit(TYPED)),
]


async def kept_state(slack: Slack) -> dict[str, list[str]]:
    """Every row of every table the bot keeps, but the outbox and the delivery records."""
    found: dict[str, list[str]] = {}
    async with slack.bot.store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in NOT_STATE:
                found[table.name] = sorted(repr(tuple(row)) for row in await conn.execute(select(table)))
    return found


def calls(slack: Slack, method: str) -> int:
    return len(slack.api.calls(method))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_a_request_slack_delivers_four_times_is_worked_once_and_each_delivery_answered_once(
    slack: Slack, case: Case
) -> None:
    await case.setup(slack)
    send = await case.request(slack, case.user)
    await slack.state.settle()
    before = await kept_state(slack)
    said_before = len(slack.ephemerals(case.user))
    shown_before = calls(slack, "views.open") + calls(slack, "views.update")

    status, _ = await send(None)
    await slack.state.settle()
    assert status == 200
    first = await kept_state(slack)
    posted, opened = calls(slack, "chat.postMessage"), calls(slack, "views.open")
    shown = opened + calls(slack, "views.update")
    assert first != before or shown > shown_before, "the first delivery did nothing (not even a refusal)"
    first_answer = slack.ephemerals(case.user)[said_before:][:1]

    for retry in (1, 2, 3):
        said = len(slack.ephemerals(case.user))
        status, body = await send(retry)
        await slack.state.settle()
        assert status == 200, body
        assert await kept_state(slack) == first, f"redelivery {retry} changed something"
        answers = slack.ephemerals(case.user)[said:]
        assert len(answers) == 1 and AGAIN in answers[0], answers
        if first_answer:
            assert answers[0].startswith(first_answer[0]), (answers[0], first_answer[0])
    assert calls(slack, "chat.postMessage") == posted  # nothing posted again in the channel
    assert calls(slack, "views.open") == opened  # no dialog opened again


# --- a hundred votes at once; a crash before the commit -----------------------------------------

VOTES = 100


async def active_votes(slack: Slack, user: str, environment: str = "staging") -> int:
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    votes = await slack.bot.store.approvals(run.id, "day1.1", environment)
    return len([v for v in votes if v.active and v.user_id == user])


async def test_a_hundred_concurrent_approve_clicks_of_one_manager_leave_one_active_vote(slack: Slack) -> None:
    await step_card(slack)
    ts = slack.card_ts("Step day1.1")
    payloads = [
        slack.click_payload(ts, "ion:approve:staging", "U0MARIA", slack.new_trigger("U0MARIA")) for _ in range(VOTES)
    ]
    results = await asyncio.gather(*(slack.interact(payload) for payload in payloads))
    await slack.state.settle()
    assert [status for status, _ in results] == [200] * VOTES
    assert await active_votes(slack, "U0MARIA") == 1
    answers = slack.ephemerals("U0MARIA")
    assert len(answers) == VOTES and not [a for a in answers if "Something went wrong" in a], answers


async def test_a_hundred_concurrent_approvals_through_the_engine_leave_one_active_vote(slack: Slack) -> None:
    await started(slack)
    maria = slack.bot.rollout.policy.actor("U0MARIA", "maria")
    outcomes = await asyncio.gather(
        *(slack.bot.rollout.approve(CHANNEL, "day1.1", "production", maria) for _ in range(VOTES)),
        return_exceptions=True,
    )
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes  # each vote is recorded
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    votes = await slack.bot.store.approvals(run.id, "day1.1", "production")
    assert len(votes) == VOTES  # every vote was cast and kept ...
    assert await active_votes(slack, "U0MARIA", "production") == 1  # ... and one of them counts


async def test_a_crash_between_taking_a_delivery_and_committing_its_effect_loses_neither(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await started(slack)
    real_claim = deliveries.claim
    crashes = [RuntimeError("the process failed before the commit")]  # not an outage: no health watch

    async def claim_then_die(*args: Any, **kwargs: Any) -> None:
        await real_claim(*args, **kwargs)
        if crashes:
            raise crashes.pop()

    monkeypatch.setattr(deliveries, "claim", claim_then_die)
    send = await command("incident the API returns 500s")(slack, "U0SAM")
    await send(None)  # the effect's transaction, claim included, is rolled back
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    assert await slack.bot.store.incidents(run.id) == []
    assert any("Something went wrong" in text for text in slack.ephemerals("U0SAM"))

    await send(1)  # Slack's retry finds the delivery free and does the work, once
    await send(2)
    assert len(await slack.bot.store.incidents(run.id)) == 1
    assert len([e for e in await slack.bot.store.audit(run.id) if e.what == "incident"]) == 1
    recorded, again = slack.ephemerals("U0SAM")[-2:]
    assert recorded.startswith("Incident recorded") and again.startswith(recorded) and AGAIN in again


async def test_a_dialog_opened_for_a_redelivered_click_says_it_was_handled_before(slack: Slack) -> None:
    """Without X-Slack-Retry-Num (a second Socket Mode envelope) the dialog opens as the click
    arrives, before anyone knows it is a redelivery; it then says so instead of showing a plan."""
    await ran_on_staging(slack)
    send = await click("ion:rollback")(slack, "U0SAM")
    await send(None)
    await slack.state.settle()
    opened = calls(slack, "views.open")

    await send(None)
    await slack.state.settle()
    assert calls(slack, "views.open") == opened + 1
    update = slack.api.last("views.update")
    assert update is not None and AGAIN in str(update["view"]) and "submit" not in update["view"]
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    assert [e.kind for e in await slack.bot.store.executions(run.id)] == ["apply"]


async def test_a_redelivery_that_fails_before_its_claim_gets_the_first_answer_not_an_error(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when a retry races its first delivery into a unique row the first one wrote."""
    await started(slack)
    send = await command("incident the API returns 500s")(slack, "U0SAM")
    await send(None)
    store = slack.bot.store

    async def unique_row_taken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("duplicate key value violates unique constraint")

    monkeypatch.setattr(store, "add_incident", unique_row_taken)
    await send(1)
    recorded, again = slack.ephemerals("U0SAM")[-2:]
    assert recorded.startswith("Incident recorded") and again.startswith(recorded) and AGAIN in again
    run = await store.open_run(CHANNEL)
    assert run is not None and len(await store.incidents(run.id)) == 1
