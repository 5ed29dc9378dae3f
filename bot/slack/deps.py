"""What the Slack app depends on, and nothing more: the engine's use cases and a few narrow ports.

``bot/bootstrap.py`` (the one composition root) builds a ``SlackDeps`` and hands it to
``build_app``; nothing in bot/slack imports the store, the sim or bootstrap. The ports below are
declared here, on the side that uses them, so the store (or a test's fake) satisfies them without
the Slack layer knowing which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.engine.delegation import Delegations
from bot.engine.deliveries import DeliveryLedger
from bot.engine.handover import Handover
from bot.engine.ports import Actor, AlertRecord, Clock, Event, KeyValueStore, MetricsSource
from bot.engine.rollout import Rollout
from bot.engine.watch import Watcher
from bot.runbook.models import Runbook
from bot.slack.delivery.outbox import Outbox

EventListener = Callable[[Event], Awaitable[None]]


class ReportsPort(Protocol):
    """Reports on demand (`/ion report`, standup, metrics, cost, scaling); the reports engineer implements it."""

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None: ...

    async def standup(self, channel: str, actor: Actor) -> None: ...

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        """A chat.postMessage-shaped message (text, blocks) with metrics against baseline and target."""
        ...

    async def record_cost(self, channel: str, service: str, amount: Any, actor: Actor) -> str: ...

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str: ...

    async def scaling(self, channel: str, actor: Actor) -> str: ...


class AlertReads(Protocol):
    """The alerts a card, a button or App Home shows (the watcher writes them)."""

    async def active_alerts(self, run_id: str) -> list[AlertRecord]: ...

    async def get_alert(self, alert_id: str) -> AlertRecord | None: ...


class StoreWatch(Protocol):
    """Whether the database is known to be out, so answers go without it (delivery/outage.py)."""

    @property
    def known_down(self) -> bool: ...

    async def noticed(self, error: BaseException) -> None: ...


class EventSource(Protocol):
    """The engine's events, for the notifier that turns them into Slack messages."""

    def subscribe(self, listener: EventListener) -> None: ...


@dataclass(frozen=True)
class SlackDeps:
    """The Slack adapter's narrow bundle: use cases, the ports it reads, and the settings it needs."""

    rollout: Rollout
    watcher: Watcher
    runbook: Runbook
    clock: Clock
    outbox: Outbox
    cards: KeyValueStore  # where each card was posted, so it is updated in place after a restart
    alerts: AlertReads
    deliveries: DeliveryLedger
    metrics: MetricsSource
    events: EventSource
    reports: ReportsPort | None = None
    health: StoreWatch | None = None
    dry_run: bool = False
    oncall_group: str | None = None
    # The web timeline's base URL, read when a card is drawn (the console learns its own address
    # after the app is built): cards link to their step's page.
    timeline_url: Callable[[], str | None] = lambda: None
    delegations: Delegations | None = None  # /ion delegate and the roles it hands out (bot/engine/delegation.py)
    handover: Handover | None = None  # I have it on the 5 PM report (bot/engine/handover.py)
