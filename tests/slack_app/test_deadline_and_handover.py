"""Through the real endpoint and the fake Slack Web API, on the virtual clock: a deadline's reminder
is a reply in the step card's thread mentioning who can act, plus one DM each; its escalation tells
the manager the same way; and on-call's I have it click accepts the night once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from bot.engine.audit_kinds import AuditKind
from bot.engine.clock import VirtualClock
from bot.reports.handover import HANDOVER_ACTION, HandoverReport
from bot.sim.slack_api import FakeSlackApi
from bot.slack.listeners.home import on_home_opened
from tests.slack_app.conftest import CHANNEL, RUNBOOK, START, Slack, slack_harness


def runbook_with_deadline(tmp_path: Path) -> Path:
    data = yaml.safe_load(RUNBOOK.read_text())
    step = data["days"][0]["steps"][0]
    step["environments"] = ["production"]
    step["approvals"] = [{"role": "member"}]
    step["deadline"] = {"within": "1h", "remind": "30m", "then": "escalate", "escalate": "manager"}
    data["handover"] = {"deadline": "19:00", "fallback": "shorten_hold"}
    path = tmp_path / "runbook.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def replies(slack: Slack, ts: str) -> list[str]:
    return [str(p.get("text")) for p in slack.posted() if p.get("channel") == CHANNEL and p.get("thread_ts") == ts]


def dms(slack: Slack, user: str) -> list[str]:
    return [str(p.get("text")) for p in slack.posted() if p.get("channel") == user]


async def test_a_reminder_and_an_escalation_reach_the_cards_thread_with_mentions_and_one_dm_each(
    tmp_path: Path, api: FakeSlackApi
) -> None:
    gen = slack_harness(tmp_path, api, True, runbook=runbook_with_deadline(tmp_path))
    slack = await gen.__anext__()
    try:
        await slack.command("start slacktest")
        await slack.command("run day1.1 production")
        await slack.command("step day1.1")
        card = slack.card_ts("day1.1")
        clock = slack.bot.clock
        assert isinstance(clock, VirtualClock)

        await clock.advance(timedelta(minutes=31))
        await slack.bot.watch_once()
        await slack.bot.watch_once()  # a second pass (or replica) says nothing again
        [reminder] = [t for t in replies(slack, card) if "Reminder" in t]
        assert reminder.startswith("<@U0DANA> Reminder: day1.1 production approval is due at")
        assert len([t for t in dms(slack, "U0DANA") if "Reminder" in t]) == 1

        await clock.advance(timedelta(minutes=30))
        await slack.bot.watch_once()
        [escalated] = [t for t in replies(slack, card) if "escalated to manager" in t]
        assert escalated.startswith("<@U0MARIA> day1.1 production approval passed its deadline")
        assert len([t for t in dms(slack, "U0MARIA") if "escalated" in t]) == 1
        run = await slack.bot.store.open_run(CHANNEL)
        assert run is not None
        kinds = [
            e.kind for e in await slack.bot.store.audit_history(run.id, kinds=(AuditKind.REMINDED, AuditKind.ESCALATED))
        ]
        assert kinds == [AuditKind.REMINDED, AuditKind.ESCALATED]
    finally:
        await gen.aclose()


async def test_i_have_it_accepts_the_night_once_and_refuses_someone_not_on_call(
    tmp_path: Path, api: FakeSlackApi
) -> None:
    gen = slack_harness(tmp_path, api, True, runbook=runbook_with_deadline(tmp_path))
    slack = await gen.__anext__()
    try:
        await slack.command("start slacktest")
        run = await slack.bot.store.open_run(CHANNEL)
        assert run is not None
        clock = slack.bot.clock
        assert isinstance(clock, VirtualClock)
        await clock.advance_to(START + timedelta(hours=7, minutes=5))  # Monday 17:05 in Chicago
        blocks = HandoverReport(slack.bot).button(run)
        await slack.state.outbox.send(
            "chat.postMessage", {"channel": CHANNEL, "text": "Armed tonight", "blocks": blocks}, "t"
        )
        ts = slack.card_ts("Armed tonight")

        await slack.click(ts, HANDOVER_ACTION, user="U0DANA")
        assert any("dana is not on call" in t for t in slack.ephemerals("U0DANA"))
        await slack.click(ts, HANDOVER_ACTION, user="U0SAM")
        await slack.click(ts, HANDOVER_ACTION, user="U0SAM", retry=1)  # Slack sends the click again
        await slack.click(ts, HANDOVER_ACTION, user="U0SAM")  # a double click
        said = slack.ephemerals("U0SAM")
        assert said[0].startswith("Thanks: you have tonight") and said[-1].startswith("You already have tonight")
        accepted = await slack.bot.store.audit_history(run.id, kinds=(AuditKind.HANDOVER_ACCEPTED,), outcome="ok")
        assert [e.actor_id for e in accepted] == ["U0SAM"]
        await clock.advance_to(START + timedelta(hours=9, minutes=5))  # past 19:00
        await slack.bot.watch_once()
        assert await slack.bot.store.audit_history(run.id, kinds=(AuditKind.HANDOVER_FALLBACK,)) == []
    finally:
        await gen.aclose()


async def test_a_delegation_typed_in_slack_is_audited_and_shown_on_app_home(tmp_path: Path, api: FakeSlackApi) -> None:
    gen = slack_harness(tmp_path, api, True, runbook=runbook_with_deadline(tmp_path))
    slack = await gen.__anext__()
    try:
        await slack.command("start slacktest")
        await slack.command("delegate lead <@U0DANA|dana> until tomorrow")
        assert any(t.startswith("dana holds lead until Tue 28 Oct") for t in slack.ephemerals("U0LEE"))
        await slack.command("delegate lead <@U0LEE|lee> until tomorrow")  # to oneself
        assert any("cannot delegate a role to yourself" in t for t in slack.ephemerals("U0LEE"))
        await slack.command("delegate lead @nobody until tomorrow", user="U0LEE")  # typed: looked up, not found
        assert any("Nobody in this workspace is called 'nobody'" in t for t in slack.ephemerals("U0LEE"))

        await on_home_opened(slack.state, {"type": "app_home_opened", "user": "U0MARIA", "tab": "home"})
        published = slack.api.last("views.publish")
        assert published is not None and "dana holds lead until Tue 28 Oct (given by lee)" in str(published["view"])
        entries = [e for e in await slack.bot.store.audit() if e.kind is AuditKind.DELEGATED]
        assert [e.outcome for e in entries] == ["ok", "refused"]
    finally:
        await gen.aclose()


async def test_a_bot_restarted_after_midnight_applies_the_missed_handover_fallback_late_once(
    tmp_path: Path, api: FakeSlackApi
) -> None:
    runbook = runbook_with_deadline(tmp_path)
    gen = slack_harness(tmp_path, api, True, runbook=runbook)
    slack = await gen.__anext__()
    try:
        await slack.command("start slacktest")
        assert isinstance(slack.bot.clock, VirtualClock)
        await slack.bot.clock.advance_to(START + timedelta(hours=8, minutes=50))  # Monday 18:50 in Chicago
        await slack.bot.watch_once()
    finally:
        await gen.aclose()  # the bot stops before the 19:00 deadline
    replicas = [slack_harness(tmp_path, api, True, runbook=runbook) for _ in range(2)]
    bots = [await gen.__anext__() for gen in replicas]  # two replicas over the same store
    try:
        for restarted in bots:
            assert isinstance(restarted.bot.clock, VirtualClock)
            await restarted.bot.clock.advance_to(START + timedelta(hours=15, minutes=12))  # Tuesday 01:12
            await restarted.bot.watch_once()
            await restarted.bot.watch_once()
    finally:
        for gen in replicas:
            await gen.aclose()

    said = [str(p.get("text")) for p in api.calls("chat.postMessage") if "Nobody accepted" in str(p.get("text"))]
    assert said == [
        ":warning: Nobody accepted the overnight handover by 19:00, so every automatic rollback now waits at most "
        "5m for a "
        "Hold (until Tue 08:00). Applied late at 01:12: the bot was down from Mon 18:50 to 01:12."
    ]


async def test_a_delegate_typed_by_name_is_looked_up_in_the_workspace(tmp_path: Path, api: FakeSlackApi) -> None:
    gen = slack_harness(tmp_path, api, True, runbook=runbook_with_deadline(tmp_path))
    slack = await gen.__anext__()
    try:
        await slack.command("start slacktest")
        await slack.command("delegate lead @Maria until tomorrow", user="U0LEE")  # Slack sends a typed @ as text

        assert any(t.startswith("maria holds lead until Tue 28 Oct") for t in slack.ephemerals("U0LEE"))
        [entry] = [e for e in await slack.bot.store.audit() if e.kind is AuditKind.DELEGATED]
        assert entry.outcome == "ok" and entry.after == "lead -> maria"
    finally:
        await gen.aclose()
