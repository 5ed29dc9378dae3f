"""Connects deadlines, delegation, on-call and paging to a Slack app's parts (called by build_app).

Deadline notices are said here, not by the generic notifier: a reply in the card's thread that
mentions exactly the people who can act, and one DM to each, every message through the outbox
under a dedupe key (so a retried pass or a second replica says nothing twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.engine.delegation import Delegations
from bot.engine.handover import Handover, ShortenedHold
from bot.engine.nudges import DEADLINE_EVENTS, Nudges, Person
from bot.engine.ports import BOT_ACTOR, JSON, Event
from bot.engine.records import Run
from bot.oncall.pagerduty import PagerDuty
from bot.oncall.paging import CHANNEL, METHOD, Pager, PagingAlerts
from bot.oncall.roster import OnCallRoster, RolePeople
from bot.slack.blocks.mrkdwn import escape
from bot.slack.delivery.cards import card_key

if TYPE_CHECKING:
    from bot.slack.listeners import AppState


def connect_oncall(state: AppState) -> None:
    bot = state.bot
    settings, runbook = bot.settings, bot.runbook
    ctx = bot.rollout.ctx
    delegations = Delegations(bot.store, bot.policy, bot.clock, ctx.auditor, ctx.zone)
    state.directory.delegations = delegations
    pagerduty = PagerDuty(
        bot.clock,
        settings.pagerduty_token,
        settings.pagerduty_routing_key,
        rest_url=settings.pagerduty_api_url,
        events_url=settings.pagerduty_events_url,
    )
    bot._stack.push_async_callback(pagerduty.close)
    roster = OnCallRoster(pagerduty, state.outbox.client, bot.clock) if settings.pagerduty_token else None
    schedule = runbook.oncall.schedule if runbook.oncall else None
    people = RolePeople(bot.policy, delegations, roster, schedule)

    async def hold(run: Run, why: str) -> None:
        await bot.rollout.hold(run.channel, BOT_ACTOR, why)

    bot.nudges = Nudges(ctx, bot.store, people, hold)
    pager = Pager(state.outbox, pagerduty, bot.store) if settings.pagerduty_routing_key else None
    if pager is not None:
        state.outbox.route(METHOD, pager.deliver)
        bot.watcher.watch_through(lambda alerts: PagingAlerts(alerts, pager))
    bot.handover = _handover(state, people, pager)
    bot.events.subscribe(_sayer(state))


def _handover(state: AppState, people: RolePeople, pager: Pager | None) -> Handover:
    """The overnight handover: pause and resume through the use cases, the secondary paged through
    PagerDuty when configured (its mentions and DMs are said with the fallback), and the watcher's
    countdowns shortened while ``shorten_hold`` is in force."""
    bot = state.bot

    async def pause(run: Run, why: str) -> None:
        await bot.rollout.pause(run.channel, BOT_ACTOR, why)

    async def resume(run: Run, why: str) -> None:
        await bot.rollout.resume(run.channel, BOT_ACTOR)

    async def page(run: Run, text: str, people: list[Person]) -> None:
        if pager is None or run.dry_run:
            return
        local = bot.clock.now().astimezone(bot.rollout.ctx.zone).date().isoformat()
        event: dict[str, JSON] = {
            "event_action": "trigger",
            "dedup_key": f"ion-handover-{run.id}-{local}",
            "payload": {"summary": text, "source": "ionbot", "severity": "warning"},
        }
        await state.outbox.send(METHOD, {"channel": CHANNEL, "event": event}, f"pagerduty:handover:{run.id}:{local}")

    handover = Handover(bot.rollout.ctx, bot.store, people, pause, resume, page)
    bot.watcher.watch_through(lambda alerts: ShortenedHold(alerts, handover, bot.clock.now))
    return handover


def _sayer(state: AppState):  # type: ignore[no-untyped-def]
    async def say(event: Event) -> None:
        if event.kind not in DEADLINE_EVENTS:
            return
        run = await state.bot.store.get_run(event.run_id)
        if run is None:
            return
        mention = [str(u) for u in event.data.get("mention") or []]  # type: ignore[union-attr]
        who = " ".join(f"<!subteam^{u}>" if u.startswith("S") else f"<@{u}>" for u in mention)
        text = f"{who} {escape(event.text)}".strip()  # the mentions raw, the sentence escaped
        where = await state.poster.where(card_key("step", run.id, event.step_id)) if event.step_id else None
        data = event.data
        key = f"{event.kind}:{run.id}:{data.get('scope')}:{data.get('environment')}:{data.get('due_at')}"
        args: dict[str, JSON] = {"channel": run.channel, **_message(text)}
        if where is not None:
            args["thread_ts"] = where[1]
        if not run.dry_run:
            await state.outbox.send("chat.postMessage", args, key)
            for user in [str(u) for u in event.data.get("dm") or []]:  # type: ignore[union-attr]
                if not user.startswith("S"):
                    await state.outbox.send(
                        "chat.postMessage", {"channel": user, **_message(escape(event.text))}, f"{key}:dm:{user}"
                    )

    return say


def _message(shown: str) -> dict[str, JSON]:
    return {"text": shown, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": shown[:3000]}}]}
