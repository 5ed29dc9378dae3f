"""The protocols the engine talks to. Adapters (store, cloud, sim, slack) implement them.

Kept in one file so a reader sees the engine's whole boundary at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.runbook.models import Environment, Metric, Runbook

JSON = Any  # a JSON-serialisable value (dict, list, str, int, float, bool, None)


# --- time -------------------------------------------------------------------------------


class Clock(Protocol):
    """Real or virtual time. ``now`` is timezone-aware UTC."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


# --- people -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who did something: a Slack user (or the bot itself, id ``ionbot``) and their roles."""

    user_id: str
    name: str
    roles: frozenset[str] = frozenset()

    def has(self, role: str) -> bool:
        return role in self.roles


BOT_ACTOR = Actor(user_id="ionbot", name="ionbot", roles=frozenset({"bot"}))


# --- actions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One thing an action changes: a service in a region, an instance, a database.

    ``key`` is stable and unique within the action (used to persist per-target snapshots).
    """

    key: str
    label: str


@dataclass(frozen=True)
class Change:
    """One field of one target: ``ion-mentoring-api us-central1 (production): minInstances 3 -> 2``."""

    target: str
    field: str
    before: JSON
    after: JSON

    def __str__(self) -> str:
        return f"{self.target}: {self.field} {_show(self.before)} -> {_show(self.after)}"


def _show(value: JSON) -> str:
    if value is None:
        return "(unset)"
    return str(value)


@dataclass(frozen=True)
class Outcome:
    """The result of apply / verify / revert on one target."""

    ok: bool
    changed: bool
    message: str
    data: Mapping[str, JSON] = field(default_factory=dict)


class ActionFailed(Exception):
    """An action could not do its work; ``message`` is one sentence a person can act on.

    ``retryable`` says whether trying again later may succeed (503, timeouts).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


ProgressCallback = Callable[[str], Awaitable[None]]


@runtime_checkable
class Action(Protocol):
    """One runbook action bound to an environment.

    The executor calls, per target: ``snapshot`` (persisted before anything changes),
    ``apply`` (idempotent: at target already = no change), ``verify``; and on rollback
    ``revert`` with the persisted snapshot. ``mutating`` is False for probes, gates,
    queries and waits: they have nothing to revert.
    """

    mutating: bool

    def describe(self) -> str:
        """One plan line, e.g. 'Scale ion-mentoring-api in us-central1: min 2'."""
        ...

    def targets(self) -> Sequence[Target]: ...

    async def snapshot(self, target: Target) -> JSON:
        """The live state of exactly the fields this action changes on ``target``."""
        ...

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        """What apply would change, given a snapshot; empty when already at target."""
        ...

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome: ...

    async def verify(self, target: Target) -> Outcome: ...

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome: ...

    async def read_back(self, target: Target) -> JSON:
        """Live state in the snapshot's shape: crash recovery reads what landed, a rollback that its
        restore held. Keys starting with "_" are context (the serving revision), not compared."""
        ...


@runtime_checkable
class ReadsAfterChange(Protocol):
    """A check that reads the last ``history()`` of a metric (a metric gate ``over 30m``): the executor
    runs it only once that long has passed since the step's newest change landed."""

    def history(self) -> timedelta: ...


@runtime_checkable
class OneWay(Protocol):
    """An action some of whose changes cannot be undone once made (a promoted replica cannot be demoted)."""

    def revert_refusal(self, target: Target, snapshot: JSON, live: JSON) -> str | None:
        """Why ``live`` cannot be brought back to ``snapshot``, with the fallback; None when it can."""
        ...


class ActionFactory(Protocol):
    """Binds a runbook action model to an environment (the registry in bot/actions)."""

    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action: ...


# --- metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True)
class Series:
    """Points of one metric, oldest first. ``step_seconds`` is the expected spacing:
    a gap longer than that is missing data (unknown), never healthy."""

    metric: str
    points: tuple[Point, ...]
    step_seconds: float = 60.0


class MetricsSource(Protocol):
    """Reads catalogue metrics for an environment over [start, end]."""

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series: ...


# --- notifications ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something a person should hear about. The chat layer renders it; the engine only emits.

    ``kind`` is one of: run_started, step_changed, execution_progress, execution_finished,
    gate_changed, alert_opened, alert_resolved, no_data, auto_rollback_pending,
    auto_rollback_paused, auto_rollback_resumed, rollback_finished, report_ready, recovered, refused.
    """

    kind: str
    run_id: str
    channel: str
    text: str
    step_id: str | None = None
    data: Mapping[str, JSON] = field(default_factory=dict)


class Notifier(Protocol):
    async def notify(self, event: Event) -> None: ...


# --- alerts (implemented by bot/store) --------------------------------------------------


@dataclass
class AlertRecord:
    """An alert raised by a trigger ("breach"), by missing data ("no_data") or by a person ("incident").

    state: open -> acknowledged | held -> resolved. An open (or acknowledged/held) alert for
    the same (run, trigger, kind) suppresses re-firing; it resolves after the condition has
    been clear for the cool-down (``clear_since`` tracks that).
    """

    id: str
    run_id: str
    trigger_id: str
    kind: str  # "breach" | "no_data" | "incident"
    state: str  # "open" | "acknowledged" | "held" | "resolved"
    opened_at: datetime
    message: str
    value: float | None = None
    threshold: float | None = None
    step_id: str | None = None
    environment: str | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    clear_since: datetime | None = None
    auto_rollback_at: datetime | None = None
    no_data_polls: int = 0
    data: dict[str, JSON] = field(default_factory=dict)
    version: int = 0  # the stored row's version, which update_alert compares (0: never stored)


class AlertStore(Protocol):
    async def active_alerts(self, run_id: str) -> list[AlertRecord]:
        """Alerts of the run that are not resolved, oldest first."""
        ...

    async def get_alert(self, alert_id: str) -> AlertRecord | None: ...

    async def save_alert(self, alert: AlertRecord) -> None:
        """Insert or replace by id, unconditionally (imports and tests; concurrent writers use the two below)."""
        ...

    async def open_alert(self, alert: AlertRecord) -> AlertRecord | None:
        """Insert ``alert`` unless its (run, trigger) already has an active alert of that slot (breach or
        incident; no_data); the stored alert (version 1), or None when another one holds the slot.
        Of N concurrent callers (across processes) exactly one inserts."""
        ...

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        """Compare-and-set: write ``alert`` only if the stored row is still at ``alert.version``; the
        stored alert (version + 1), or None when someone else wrote it since it was read."""
        ...


@runtime_checkable
class AlertHistory(Protocol):
    """Every alert a run raised, resolved ones too (what a decision point counts)."""

    async def alerts(self, run_id: str) -> list[AlertRecord]:
        """Oldest first."""
        ...


# --- condition checks (implemented by the evaluator over a MetricsSource) -----------------


@dataclass(frozen=True)
class CheckResult:
    """One condition checked against live metrics.

    ``passed`` is None when the answer is unknown (no data, no baseline): never healthy.
    ``value`` is the figure compared (latest, window aggregate, or worst point of a ``for``).
    """

    condition: str
    passed: bool | None
    value: float | None
    threshold: float | None
    detail: str


class ConditionChecker(Protocol):
    """Checks a runbook condition in an environment at ``now`` (gates, acceptance, metric.gate)."""

    async def check(self, condition: Any, environment: Environment, now: datetime) -> CheckResult: ...


@dataclass(frozen=True)
class Breach:
    """A span of a window in which a condition held (for its whole ``for`` duration)."""

    start: datetime
    end: datetime
    worst: float


@runtime_checkable
class BreachScanner(Protocol):
    """A checker that can also say where in a window a condition held (a gate's phase window)."""

    async def breaches(
        self, condition: Any, environment: Environment, start: datetime, end: datetime
    ) -> list[Breach] | None:
        """Every span of [start, end] in which ``condition`` held; None when the metric cannot be read."""
        ...


class KeyValueStore(Protocol):
    """Small durable values by key: cards' places, delegations, the last backtest, scaling rules.

    One port for every reader (engine, actions, Slack delivery); bot/store implements it."""

    async def get_value(self, key: str) -> JSON | None: ...

    async def put_value(self, key: str, value: JSON) -> None: ...

    async def delete_value(self, key: str) -> None: ...
