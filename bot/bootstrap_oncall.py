"""Wiring of deadlines, delegation, on-call and paging onto a built bot and its Slack app's parts.

Part of the composition root: bot/bootstrap.py builds the ``OnCall`` parts with every Slack app's
bundle (``oncall_parts``) and connects the built app's notices (``connect_oncall``). Deadline
notices are said here, not by the generic notifier: a reply in the card's thread that mentions
exactly the people who can act, and one DM to each, every message through the outbox under a
dedupe key (so a retried pass or a second replica says nothing twice).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.delegation import Delegations
from bot.engine.handover import Handover, ShortenedHold
from bot.engine.nudges import DEADLINE_EVENTS, Nudges, Person
from bot.engine.ports import BOT_ACTOR, JSON, Event
from bot.engine.records import Run
from bot.engine.units import after_commit
from bot.oncall.pagerduty import PagerDuty
from bot.oncall.paging import CHANNEL, METHOD, Pager, PagingAlerts
from bot.oncall.roster import OnCallRoster, RolePeople
from bot.slack.blocks.mrkdwn import escape
from bot.slack.delivery.cards import card_key

if TYPE_CHECKING:
    from bot.bootstrap import Bot
    from bot.slack.delivery.outbox import Outbox
    from bot.slack.listeners import AppState

CardPlace = Callable[[str], Awaitable[tuple[str, str] | None]]


@dataclass(frozen=True)
class OnCall:
    """On-call's use cases over one outbox, built together: the Slack app takes the delegations and
    the handover in its bundle; the bot's watch runs the deadline pass and the handover's fallback."""

    delegations: Delegations
    nudges: Nudges
    handover: Handover


def oncall_parts(bot: Bot, outbox: Outbox) -> OnCall:
    """Delegations, the deadline pass and the handover in one step; pages go through the outbox."""
    settings, runbook = bot.settings, bot.runbook
    delegations = bot.rollout.delegations(bot.store)
    pagerduty = PagerDuty(
        bot.clock,
        settings.pagerduty_token,
        settings.pagerduty_routing_key,
        rest_url=settings.pagerduty_api_url,
        events_url=settings.pagerduty_events_url,
    )
    bot._stack.push_async_callback(pagerduty.close)
    roster = OnCallRoster(pagerduty, outbox.client, bot.clock) if settings.pagerduty_token else None
    schedule = runbook.oncall.schedule if runbook.oncall else None
    people = RolePeople(bot.policy, delegations, roster, schedule)

    async def hold(run: Run, why: str) -> None:
        await bot.rollout.hold(run.channel, BOT_ACTOR, why)

    pager = Pager(outbox, pagerduty, bot.store) if settings.pagerduty_routing_key else None
    if pager is not None:
        outbox.route(METHOD, pager.deliver)
        bot.watcher.watch_through(lambda alerts: PagingAlerts(alerts, pager))
    oncall = OnCall(
        delegations, bot.rollout.deadline_pass(bot.store, people, hold), _handover(bot, outbox, people, pager)
    )
    bot.duties.serve(oncall.nudges, oncall.handover)
    return oncall


def connect_oncall(bot: Bot, state: AppState) -> None:
    """Deadline notices said by the built app: in the thread of the card they are about."""
    bot.events.subscribe(_sayer(bot, state.deps.outbox, state.poster.where))


def _handover(bot: Bot, outbox: Outbox, people: RolePeople, pager: Pager | None) -> Handover:
    """The overnight handover: pause and resume through the use cases, the secondary paged through
    PagerDuty when configured (its mentions and DMs are said with the fallback), and the watcher's
    countdowns shortened while ``shorten_hold`` is in force."""

    async def pause(run: Run, why: str) -> None:
        await bot.rollout.pause(run.channel, BOT_ACTOR, why)

    async def resume(run: Run, why: str) -> None:
        await bot.rollout.resume(run.channel, BOT_ACTOR)

    async def page(run: Run, text: str, people: list[Person]) -> None:
        if pager is None or run.dry_run:
            return
        local = bot.clock.now().astimezone(bot.rollout.zone).date().isoformat()
        event: dict[str, JSON] = {
            "event_action": "trigger",
            "dedup_key": f"ion-handover-{run.id}-{local}",
            "payload": {"summary": text, "source": "ionbot", "severity": "warning"},
        }
        args: dict[str, JSON] = {"channel": CHANNEL, "event": event}
        key = f"pagerduty:handover:{run.id}:{local}"
        await outbox.queue(METHOD, args, key)  # with the fallback's unit of work; sent once it committed

        async def send_now() -> None:
            await outbox.send(METHOD, args, key)

        await after_commit(send_now)

    handover = bot.rollout.handover(bot.store, people, pause, resume, page)
    bot.watcher.watch_through(lambda alerts: ShortenedHold(alerts, handover, bot.clock.now))
    return handover


def _sayer(bot: Bot, outbox: Outbox, card_place: CardPlace) -> Callable[[Event], Awaitable[None]]:
    async def say(event: Event) -> None:
        if event.kind not in DEADLINE_EVENTS:
            return
        run = await bot.rollout.run_by_id(event.run_id)
        if run is None:
            return
        mention = [str(u) for u in event.data.get("mention") or []]  # type: ignore[union-attr]
        who = " ".join(f"<!subteam^{u}>" if u.startswith("S") else f"<@{u}>" for u in mention)
        text = f"{who} {escape(event.text)}".strip()  # the mentions raw, the sentence escaped
        where = await card_place(card_key("step", run.id, event.step_id)) if event.step_id else None
        data = event.data
        key = f"{event.kind}:{run.id}:{data.get('scope')}:{data.get('environment')}:{data.get('due_at')}"
        args: dict[str, JSON] = {"channel": run.channel, **_message(text)}
        if where is not None:
            args["thread_ts"] = where[1]
        if not run.dry_run:
            await outbox.send("chat.postMessage", args, key)
            for user in [str(u) for u in event.data.get("dm") or []]:  # type: ignore[union-attr]
                if not user.startswith("S"):
                    await outbox.send(
                        "chat.postMessage", {"channel": user, **_message(escape(event.text))}, f"{key}:dm:{user}"
                    )

    return say


def _message(shown: str) -> dict[str, JSON]:
    return {"text": shown, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": shown[:3000]}}]}
