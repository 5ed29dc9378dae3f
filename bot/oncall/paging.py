"""Real paging: a rollback trigger's alert becomes a PagerDuty incident, and its Acknowledge/Hold
and its resolution (or the automatic rollback finishing) follow it there.

``PagingAlerts`` wraps the watcher's alert store: every alert transition is a compare-and-set that
exactly one writer wins (across replicas), and only the winner enqueues the matching Events API
call in the outbox, under a dedupe key per (alert, action), in the same unit of work as the
change (bot/engine/units.py): the event is in the outbox if and only if its change is stored, so
a crash between the two loses neither. It is sent once the unit has committed, and each
transition reaches PagerDuty once, however many replicas watch and however often PagerDuty
answers 429 or 5xx (the outbox's later pass tries again). Without ION_PAGERDUTY_ROUTING_KEY
nothing is wrapped and nothing paged.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from bot.engine.ports import JSON, AlertRecord
from bot.engine.units import after_commit, unit_of_work
from bot.engine.watch import WatchStore, WatchStoreDecorator
from bot.oncall.pagerduty import PagerDuty, PagerDutyFailure
from bot.slack.delivery.api_failures import ApiFailure
from bot.slack.delivery.ports import KeyValueStore, OutboxMessage

METHOD = "pagerduty.enqueue"
CHANNEL = "pagerduty"
TRIGGERED = "pagerduty:triggered:"
PAGED_KINDS = frozenset({"breach", "incident"})  # a no-data alert is the bot's trouble, not a page
Action = Literal["trigger", "acknowledge", "resolve"]


class Sends(Protocol):
    async def queue(self, method: str, args: dict[str, JSON], dedupe_key: str) -> OutboxMessage: ...

    async def send(
        self, method: str, args: dict[str, JSON], dedupe_key: str, *, replace: bool = False
    ) -> OutboxMessage: ...


def dedup_key(alert_id: str) -> str:
    return f"ion-alert-{alert_id}"


def event_for(alert: AlertRecord, action: Action, source: str = "ionbot") -> dict[str, JSON]:
    event: dict[str, JSON] = {"event_action": action, "dedup_key": dedup_key(alert.id)}
    if action == "trigger":
        event["payload"] = {
            "summary": alert.message[:1024] or f"Rollback trigger {alert.trigger_id}",
            "source": source,
            "severity": "critical",
            "component": alert.environment or "production",
            "custom_details": {
                "trigger": alert.trigger_id,
                "step": alert.step_id,
                "value": alert.value,
                "threshold": alert.threshold,
                "auto_rollback_at": alert.auto_rollback_at.isoformat() if alert.auto_rollback_at else None,
            },
        }
    return event


class Pager:
    """Enqueues PagerDuty events in the outbox; ``deliver`` is the outbox's route for them."""

    def __init__(self, outbox: Sends, pagerduty: PagerDuty, settings: KeyValueStore) -> None:
        self._outbox = outbox
        self._pagerduty = pagerduty
        self._settings = settings  # "the trigger of this dedup key reached PagerDuty", shared by replicas

    async def page(self, alert: AlertRecord, action: Action) -> None:
        """Store the event with the open unit's writes; try it now once they are committed."""
        args: dict[str, JSON] = {"channel": CHANNEL, "event": event_for(alert, action)}
        key = f"pagerduty:{alert.id}:{action}"
        await self._outbox.queue(METHOD, args, key)

        async def send_now() -> None:
            await self._outbox.send(METHOD, args, key)

        await after_commit(send_now)

    async def deliver(self, args: dict[str, Any]) -> dict[str, Any]:
        event = dict(args.get("event") or {})
        key = str(event.get("dedup_key"))
        trigger = event.get("event_action") == "trigger"
        if not trigger and await self._settings.get_value(f"{TRIGGERED}{key}") is None:
            # An acknowledge before its trigger would be lost, and the late trigger page anew.
            raise PagerDutyFailure(ApiFailure("waits for its trigger to reach PagerDuty first"))
        answer = await self._pagerduty.send_event(event)
        if trigger:
            await self._settings.put_value(f"{TRIGGERED}{key}", True)
        return {"ts": str(answer.get("dedup_key") or key)}


def transition(before: AlertRecord | None, after: AlertRecord) -> Action | None:
    """The PagerDuty action a stored alert change stands for, if any."""
    if after.kind not in PAGED_KINDS:
        return None
    was = before.state if before is not None else None
    if after.state == "resolved" and was != "resolved":
        return "resolve"
    finished = "finished_at" in after.data and (before is None or "finished_at" not in before.data)
    if finished and after.data.get("auto_rollback_ok") is True:
        return "resolve"  # the automatic rollback completed
    if after.state in ("acknowledged", "held") and was == "open":
        return "acknowledge"
    return None


class PagingAlerts(WatchStoreDecorator):
    """The watcher's store, paging on the transitions this writer won."""

    def __init__(self, inner: WatchStore, pager: Pager) -> None:
        super().__init__(inner)
        self._pager = pager

    async def open_alert(self, alert: AlertRecord) -> AlertRecord | None:
        async with unit_of_work():  # the alert and its page, or neither
            opened = await self._inner.open_alert(alert)
            if opened is not None and opened.kind in PAGED_KINDS:
                await self._pager.page(opened, "trigger")
        return opened

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        async with unit_of_work():  # the change and its page, or neither
            before = await self._inner.get_alert(alert.id)
            stored = await self._inner.update_alert(alert)
            action = transition(before, stored) if stored is not None else None
            if stored is not None and action is not None:
                await self._pager.page(stored, action)
        return stored
