"""The trigger watch: one poll reads each metric once, judges every trigger, and acts on alerts.

Polls are driven from outside (the scheduler every ``schedule.watch_interval``). State lives in
the AlertStore, so a restarted bot carries on; the auto-rollback is marked on the alert before it
is started, so a restart never starts it twice (at most once, by design).

Several replicas may poll one database. A new alert is opened with ``open_alert`` (one per
trigger and slot, whoever races), and every later write is a compare-and-set on the version that
was read: the watcher drops a write that lost (the next poll reads afresh), so a person's
Acknowledge or Hold always wins; people's writes and the rollback's result re-read and retry.
The write-ahead mark that starts an auto-rollback is such a write, so exactly one replica starts it.
While the run is held or paused the countdown waits (see bot/engine/triggers.py).

Each step's ``rollback_if`` conditions join the poll once its production lane is done, for the
watch period bot/engine/triggers.py states, as step-scoped triggers: the same alert slots and
compare-and-set writes, and the same reads (a metric read for a run-wide trigger is not read again).
Their alert names the step, so its Roll back rolls back that step, not the latest one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from bot.engine.alert_events import event_for
from bot.engine.evaluator import Evaluation, IncidentCounter, IncidentSeries, evaluate, lookback
from bot.engine.ports import (
    JSON,
    Actor,
    AlertRecord,
    AlertStore,
    Clock,
    MetricsSource,
    Notifier,
    Series,
)
from bot.engine.records import Run, RunState, StepLane
from bot.engine.triggers import (
    ACTIVE,
    BREACH_KINDS,
    AlertChange,
    ChangeKind,
    Decision,
    StepWatch,
    TriggerContext,
    TriggerPolicy,
    acknowledge,
    decide,
    decide_unwatched,
    due_for_auto_rollback,
    follow_the_run,
    hold,
    incident_alert,
    resolve_by_person,
    step_watches,
)
from bot.engine.units import after_commit
from bot.runbook.models import Runbook, Trigger

log = structlog.get_logger(__name__)

AutoRollback = Callable[[AlertRecord], Awaitable[str]]
WAITING_RUN_STATES = frozenset({RunState.HELD, RunState.PAUSED})  # no automatic rollback starts
ATTEMPTS = 5  # compare-and-set tries for a person's change before giving up


class WatchStore(AlertStore, Protocol):
    """The alerts, the run's state (a held or paused run stops the auto-rollback countdown), and its
    lanes (a step's rollback_if conditions are watched once its production lane is done)."""

    async def get_run(self, run_id: str) -> Run | None: ...

    async def lanes(self, run_id: str) -> list[StepLane]: ...


class WatchStoreDecorator:
    """A ``WatchStore`` around another that passes every call through: a decorator that changes what
    some calls do (a shortened hold, a page with each alert) overrides only those."""

    def __init__(self, inner: WatchStore) -> None:
        self._inner = inner

    async def get_run(self, run_id: str) -> Run | None:
        return await self._inner.get_run(run_id)

    async def lanes(self, run_id: str) -> list[StepLane]:
        return await self._inner.lanes(run_id)

    async def active_alerts(self, run_id: str) -> list[AlertRecord]:
        return await self._inner.active_alerts(run_id)

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        return await self._inner.get_alert(alert_id)

    async def save_alert(self, alert: AlertRecord) -> None:
        await self._inner.save_alert(alert)

    async def open_alert(self, alert: AlertRecord) -> AlertRecord | None:
        return await self._inner.open_alert(alert)

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        return await self._inner.update_alert(alert)


class AlertNotFound(LookupError):
    """The alert a button or command names does not exist or is already resolved."""


class AlertBusy(RuntimeError):
    """The alert kept changing under a person's change; nothing was changed."""


class Watcher:
    """Watches a run's rollback triggers against production and raises, clears and acts on alerts."""

    def __init__(
        self,
        runbook: Runbook,
        source: MetricsSource,
        alerts: WatchStore,
        notifier: Notifier,
        clock: Clock,
        on_auto_rollback: AutoRollback,
        incidents: IncidentCounter,
        policy: TriggerPolicy = TriggerPolicy(),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._runbook = runbook
        self._source = source
        self._alerts = alerts
        self._notifier = notifier
        self._clock = clock
        self._on_auto_rollback = on_auto_rollback
        self._incidents = incidents
        self._policy = policy
        self._new_id = new_id
        self._unknown_polls: dict[tuple[str, str], int] = {}

    async def poll(self, run_id: str, channel: str, latest_production_step: str | None) -> list[AlertChange]:
        """Judge every trigger once; save and announce what changed; start due auto-rollbacks."""
        now = self._clock.now()
        run = await self._alerts.get_run(run_id)
        run_paused = run is not None and run.state in WAITING_RUN_STATES
        active = await self._alerts.active_alerts(run_id)
        lanes = await self._alerts.lanes(run_id)
        judged: list[tuple[Trigger, StepWatch | None]] = [
            *((trigger, None) for trigger in self._runbook.triggers),
            *((watch.trigger, watch) for watch in step_watches(self._runbook, lanes, _trigger_ids(active), now)),
        ]
        verdicts = await self._judge_all(run_id, now, [trigger for trigger, _ in judged])
        changes: list[AlertChange] = []
        for trigger, watch in judged:
            breach = _find(active, trigger.id, BREACH_KINDS)
            no_data = _find(active, trigger.id, ("no_data",))
            ctx = TriggerContext(
                run_id=run_id,
                now=now,
                new_id=self._new_id(),
                step_id=watch.step_id if watch else latest_production_step,
                environment=trigger.environment,
                # A step's own conditions never roll back by themselves: the runbook has no way to ask.
                default_auto_rollback=None if watch else self._runbook.auto_rollback_after,
                run_paused=run_paused,
            )
            if watch is not None and not watch.watching:
                decision = decide_unwatched(trigger, verdicts[trigger.id], breach, no_data, ctx, self._policy)
            else:
                decision = self._decide(run_id, trigger, verdicts[trigger.id], breach, no_data, ctx)
            self._unknown_polls[(run_id, trigger.id)] = decision.unknown_polls
            for change in decision.changes:
                stored = await self._store(change, channel)
                if stored is not None:
                    changes.append(stored)
                    await self._announce(stored, channel)
        # Nothing was saved since ``active`` was read, so it is as fresh as a re-read; and a stale
        # record (another replica wrote since) only loses its compare-and-set.
        changes += await self._auto_rollbacks(run_id, channel, run_paused, None if changes else active)
        return changes

    def watch_through(self, wrap: Callable[[WatchStore], WatchStore]) -> None:
        """Put ``wrap`` around the alert store (paging on transitions, bot/oncall/paging.py)."""
        self._alerts = wrap(self._alerts)

    async def acknowledge(self, alert_id: str, actor: Actor) -> AlertRecord:
        """Someone is on it; the alert keeps its Roll back and Hold, and its countdown."""
        change = await self._amend(alert_id, lambda a: acknowledge(a, actor.user_id, self._clock.now()))
        return change.alert

    async def hold(self, alert_id: str, actor: Actor) -> AlertRecord:
        """Stop a pending auto-rollback of this alert; it is not started by any later poll."""
        change = await self._amend(alert_id, lambda a: hold(a, actor.user_id, self._clock.now()))
        return change.alert

    async def resolve(self, alert_id: str, actor: Actor) -> AlertRecord:
        """Close an alert by hand, e.g. a declared incident that is over."""
        change = await self._amend(alert_id, lambda a: resolve_by_person(a, actor.user_id, self._clock.now()))
        channel = str(change.alert.data.get("channel", ""))
        await self._announce(change, channel)
        return change.alert

    async def declare_incident(
        self, run_id: str, channel: str, text: str, actor: Actor, latest_production_step: str | None = None
    ) -> AlertRecord:
        """Open an incident alert now (the runbook's 'any production incident' trigger).

        While one is active, a second declaration adds its text to it instead of alerting again.
        """
        trigger = self._incident_trigger()
        trigger_id = trigger.id if trigger else "production_incident"
        run = await self._alerts.get_run(run_id)
        for _ in range(ATTEMPTS):
            existing = _find(await self._alerts.active_alerts(run_id), trigger_id, BREACH_KINDS)
            if existing is not None:
                also = [*existing.data.get("also_declared", []), {"by": actor.name, "text": text}]
                updated = await self._alerts.update_alert(
                    replace(existing, data={**existing.data, "also_declared": also})
                )
                if updated is not None:
                    return updated
                continue
            ctx = TriggerContext(
                run_id=run_id,
                now=self._clock.now(),
                new_id=self._new_id(),
                step_id=latest_production_step,
                default_auto_rollback=self._runbook.auto_rollback_after,
                run_paused=run is not None and run.state in WAITING_RUN_STATES,
            )
            alert = incident_alert(trigger, text, actor.name, ctx)
            opened = await self._alerts.open_alert(replace(alert, data={**alert.data, "channel": channel}))
            if opened is not None:
                await self._announce(AlertChange(opened, "incident_declared"), channel)
                return opened
        raise AlertBusy(f"The {trigger_id} alert kept changing while the incident was declared; try again.")

    # --- reading and judging ---------------------------------------------------------------

    def _decide(
        self,
        run_id: str,
        trigger: Trigger,
        verdict: Evaluation,
        breach: AlertRecord | None,
        no_data: AlertRecord | None,
        ctx: TriggerContext,
    ) -> Decision:
        remembered = self._unknown_polls.get((run_id, trigger.id), 0)
        polls = max(remembered, no_data.no_data_polls if no_data else 0)
        return decide(trigger, verdict, breach, no_data, polls, ctx, self._policy)

    async def _judge_all(self, run_id: str, now: datetime, triggers: list[Trigger]) -> dict[str, Evaluation]:
        """Read each (metric, environment) once over the longest window any trigger needs."""
        needed: dict[tuple[str, str], timedelta] = {}
        for trigger in triggers:
            key = (trigger.condition.metric, trigger.environment)
            needed[key] = max(needed.get(key, timedelta(0)), lookback(trigger.condition))
        series: dict[tuple[str, str], Series | str] = {}
        incidents = IncidentSeries(self._incidents, run_id)
        for (metric_id, env_name), span in needed.items():
            metric = self._runbook.metric(metric_id)
            environment = self._runbook.environment(env_name)
            if metric is None:
                series[(metric_id, env_name)] = f"{metric_id} is not in the runbook's metric catalogue"
                continue
            if environment is None:
                series[(metric_id, env_name)] = f"environment {env_name!r} is not in the runbook"
                continue
            reader = incidents if metric.source == "incidents" else self._source
            try:
                series[(metric_id, env_name)] = await reader.read(metric, environment, now - span, now)
            except Exception as exc:  # one unreadable metric must not stop the other triggers
                log.warning("metric_read_failed", metric=metric_id, environment=env_name, error=str(exc))
                series[(metric_id, env_name)] = f"could not read {metric_id}: {exc}"
        verdicts: dict[str, Evaluation] = {}
        for trigger in triggers:
            got = series[(trigger.condition.metric, trigger.environment)]
            if isinstance(got, str):
                verdicts[trigger.id] = Evaluation("unknown", None, None, None, got)
                continue
            metric = self._runbook.metric(trigger.condition.metric)
            assert metric is not None
            zone = ZoneInfo(self._runbook.calendar.timezone)
            verdicts[trigger.id] = evaluate(trigger.condition, got, metric.baseline, now, metric.window_aggregate, zone)
        return verdicts

    # --- auto-rollback ------------------------------------------------------------------------

    async def _auto_rollbacks(
        self, run_id: str, channel: str, run_paused: bool, active: list[AlertRecord] | None = None
    ) -> list[AlertChange]:
        now = self._clock.now()
        changes: list[AlertChange] = []
        for alert in active if active is not None else await self._alerts.active_alerts(run_id):
            followed = follow_the_run(alert, now, run_paused)
            if followed is not None:
                stored = await self._store(followed, channel)
                if stored is None:
                    continue  # someone changed it meanwhile; the next poll looks again
                changes.append(stored)
                await self._announce(stored, channel)
                alert = stored.alert
            if not due_for_auto_rollback(alert, now):
                continue
            marked = replace(alert, data={**alert.data, "auto_rollback_started_at": now.isoformat()})
            # Write-ahead and claim in one: a restart never starts it again, and of several
            # replicas (or a person's Hold landing first) only one compare-and-set wins.
            started = await self._alerts.update_alert(marked)
            if started is None:
                continue
            changes.append(AlertChange(started, "auto_rollback_started"))
            await self._announce(changes[-1], channel)
            try:
                result = await self._on_auto_rollback(started)
                ok = True
            except Exception as exc:
                log.exception("auto_rollback_failed", alert_id=alert.id)
                result = (
                    f"The automatic rollback for alert {alert.id} failed: {exc}. "
                    "It will not be retried automatically; roll back by hand with /ion rollback."
                )
                ok = False
            outcome = {
                "auto_rollback_result": result,
                "auto_rollback_ok": ok,
                "finished_at": self._clock.now().isoformat(),
            }
            # The result is recorded even if the alert was acknowledged, held or resolved meanwhile.
            finished = await self._amend(alert.id, _with_data(outcome, "auto_rollback_finished"), active_only=False)
            changes.append(finished)
            await self._announce(finished, channel)
        return changes

    # --- helpers --------------------------------------------------------------------------------

    async def _store(self, change: AlertChange, channel: str) -> AlertChange | None:
        """Save a change the watcher decided on a read; None if another writer got there first."""
        if change.kind in ("opened", "no_data_opened"):
            fresh = replace(change.alert, data={**change.alert.data, "channel": channel})
            opened = await self._alerts.open_alert(fresh)
            return AlertChange(opened, change.kind) if opened is not None else None
        stored = await self._alerts.update_alert(change.alert)
        return AlertChange(stored, change.kind) if stored is not None else None

    async def _amend(
        self, alert_id: str, change: Callable[[AlertRecord], AlertChange], active_only: bool = True
    ) -> AlertChange:
        """Apply ``change`` to the alert as stored now, re-reading and retrying when a write intervenes."""
        for _ in range(ATTEMPTS):
            current = await self._active(alert_id) if active_only else await self._alerts.get_alert(alert_id)
            if current is None:
                raise AlertNotFound(f"Alert {alert_id} does not exist; nothing was changed.")
            proposed = change(current)
            stored = await self._alerts.update_alert(proposed.alert)
            if stored is not None:
                return AlertChange(stored, proposed.kind)
        raise AlertBusy(f"Alert {alert_id} kept changing while this was being saved; nothing was changed, try again.")

    async def _active(self, alert_id: str) -> AlertRecord:
        alert = await self._alerts.get_alert(alert_id)
        if alert is None or alert.state not in ACTIVE:
            raise AlertNotFound(
                f"Alert {alert_id} is not open (it does not exist or is already resolved); nothing was changed."
            )
        return alert

    def _incident_trigger(self) -> Trigger | None:
        for trigger in self._runbook.triggers:
            metric = self._runbook.metric(trigger.condition.metric)
            if metric is not None and metric.source == "incidents":
                return trigger
        return None

    async def _announce(self, change: AlertChange, channel: str) -> None:
        event = event_for(change, channel, ZoneInfo(self._runbook.calendar.timezone))
        if event is not None:
            await after_commit(lambda: self._notifier.notify(event))


def _with_data(extra: dict[str, JSON], kind: ChangeKind) -> Callable[[AlertRecord], AlertChange]:
    return lambda alert: AlertChange(replace(alert, data={**alert.data, **extra}), kind)


def _trigger_ids(alerts: list[AlertRecord]) -> set[str]:
    return {a.trigger_id for a in alerts if a.state in ACTIVE}


def _find(alerts: list[AlertRecord], trigger_id: str, kinds: tuple[str, ...]) -> AlertRecord | None:
    return next((a for a in alerts if a.trigger_id == trigger_id and a.kind in kinds and a.state in ACTIVE), None)
