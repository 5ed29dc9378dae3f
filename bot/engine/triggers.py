"""What one poll of a rollback trigger does to its alerts: pure state transitions, no I/O.

A breach opens one alert and never re-fires while it is open; it resolves only after the
condition has been clear for a whole cool-down (a gap restarts the cool-down, since missing
data is not health). Unknown polls are counted; after N in a row a separate "no_data" alert opens.

While the run is held or paused the triggers are still judged and alert as usual, but an automatic
rollback waits: its countdown stops (``auto_rollback_at`` is cleared and the time left is kept in
``data``) and starts again, with the time that was left, when the run is active again. A person can
always roll back by hand; the bot only stops acting on its own, as a paused run promises.

A step's own ``rollback_if`` conditions are watched like triggers, one step-scoped trigger per
condition (id ``rollback_if:day7.1:0``; the ':' and '.' keep it apart from any runbook trigger id).
They are watched from the moment the step's production lane is done until the end (local midnight)
of the next working day after that: the day it landed and a full working day of traffic, the
weekend included when it landed on a Friday. A lane that is no longer done (rolled back, or being
rolled back) stops them at once. Their alert names that step, so its Roll back is that step's,
and they never roll back by themselves (a step has no field asking for it). A condition that stops
being watched opens nothing new; a breach alert it already opened is still judged until it has been
clear for the cool-down, so it closes on its own, and its no-data alert closes at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.engine.calendar import WEEKDAYS as _WEEKDAYS
from bot.engine.evaluator import Evaluation
from bot.engine.ports import AlertRecord
from bot.engine.records import StepLane, StepState
from bot.runbook.durations import format_duration
from bot.runbook.models import Runbook, Step, Trigger

ACTIVE = ("open", "acknowledged", "held")
BREACH_KINDS = ("breach", "incident")
STEP_TRIGGER = "rollback_if"  # the prefix of a step-scoped trigger id: rollback_if:<step>:<index>[@<env>]
PAUSED_AT = "auto_rollback_paused_at"  # alert.data keys of a countdown stopped with the run
LEFT_SECONDS = "auto_rollback_left_seconds"

ChangeKind = Literal[
    "opened",  # a breach alert opened (event alert_opened)
    "still_breaching",  # open alert refreshed with the latest value (no event)
    "clearing",  # condition false: cool-down started
    "clear_reset",  # breach or unknown again during the cool-down
    "resolved",  # cool-down passed (event alert_resolved)
    "no_data_opened",  # N unknown polls in a row (event no_data)
    "no_data_ongoing",  # still no data; the open no_data alert counts the polls (no event)
    "no_data_resolved",  # data is back (event alert_resolved)
    "auto_rollback_started",
    "auto_rollback_finished",
    "auto_rollback_paused",  # the run is held or paused: the countdown stops (event auto_rollback_paused)
    "auto_rollback_resumed",  # the run is active again: the countdown goes on (event auto_rollback_resumed)
    "acknowledged",
    "held",
    "incident_declared",
    "resolved_by_person",
]


@dataclass(frozen=True)
class TriggerPolicy:
    cool_down: timedelta = timedelta(minutes=10)
    no_data_after: int = 3


@dataclass(frozen=True)
class AlertChange:
    """An alert as it must be saved, and why it changed."""

    alert: AlertRecord
    kind: ChangeKind


@dataclass(frozen=True)
class TriggerContext:
    """Everything about the poll that is not the verdict: who, when, where, and ids for new alerts."""

    run_id: str
    now: datetime
    new_id: str
    step_id: str | None = None
    environment: str | None = None
    default_auto_rollback: timedelta | None = None
    run_paused: bool = False  # the run is held or paused: a new alert's countdown starts stopped


@dataclass(frozen=True)
class Decision:
    changes: list[AlertChange] = field(default_factory=list)
    unknown_polls: int = 0


def decide(
    trigger: Trigger,
    verdict: Evaluation,
    breach: AlertRecord | None,
    no_data: AlertRecord | None,
    unknown_polls: int,
    ctx: TriggerContext,
    policy: TriggerPolicy = TriggerPolicy(),
) -> Decision:
    """The alert changes one poll causes. ``breach``/``no_data`` are the trigger's active alerts."""
    changes: list[AlertChange] = []
    if verdict.state == "unknown":
        polls = unknown_polls + 1
        if breach is not None and breach.clear_since is not None:
            changes.append(AlertChange(replace(breach, clear_since=None), "clear_reset"))
        if polls >= policy.no_data_after and no_data is None:
            changes.append(AlertChange(_no_data_alert(trigger, verdict, polls, ctx), "no_data_opened"))
        elif no_data is not None:
            changes.append(AlertChange(replace(no_data, no_data_polls=polls), "no_data_ongoing"))
        return Decision(changes, polls)

    if no_data is not None:
        changes.append(AlertChange(_resolved(no_data, ctx.now), "no_data_resolved"))
    if verdict.state == "true":
        if breach is None:
            changes.append(AlertChange(breach_alert(trigger, verdict, ctx), "opened"))
        else:
            refreshed = replace(breach, value=verdict.value, clear_since=None)
            changes.append(AlertChange(refreshed, "clear_reset" if breach.clear_since else "still_breaching"))
    elif breach is not None and breach.kind == "breach":
        if breach.clear_since is None:
            changes.append(AlertChange(replace(breach, clear_since=ctx.now), "clearing"))
        elif ctx.now - breach.clear_since >= policy.cool_down:
            changes.append(AlertChange(_resolved(breach, ctx.now), "resolved"))
    return Decision(changes, 0)


def breach_alert(trigger: Trigger, verdict: Evaluation, ctx: TriggerContext) -> AlertRecord:
    """A new breach alert naming the trigger, the value, the threshold and how long it held."""
    held = f" for {format_duration(verdict.held_for)}" if verdict.held_for else ""
    value = _num(verdict.value)
    message = (
        f"{trigger.title}: {trigger.condition.metric} is {value} against a threshold of "
        f"{_num(verdict.threshold)}{held} ({trigger.condition.text or trigger.condition})."
    )
    delay = trigger.auto_rollback_after or ctx.default_auto_rollback
    alert = AlertRecord(
        id=ctx.new_id,
        run_id=ctx.run_id,
        trigger_id=trigger.id,
        kind="breach",
        state="open",
        opened_at=ctx.now,
        message=message,
        value=verdict.value,
        threshold=verdict.threshold,
        step_id=ctx.step_id,
        environment=ctx.environment or trigger.environment,
        auto_rollback_at=ctx.now + delay if delay else None,
        data={
            "held_for_seconds": verdict.held_for.total_seconds() if verdict.held_for else None,
            "condition": trigger.condition.text or str(trigger.condition),
            "detail": verdict.detail,
        },
    )
    return _paused(alert, ctx.now) if ctx.run_paused and delay else alert


def incident_alert(trigger: Trigger | None, text: str, actor_name: str, ctx: TriggerContext) -> AlertRecord:
    """An incident a person declared; it counts as the incident trigger's breach (no re-fire)."""
    delay = (trigger.auto_rollback_after if trigger else None) or ctx.default_auto_rollback
    alert = AlertRecord(
        id=ctx.new_id,
        run_id=ctx.run_id,
        trigger_id=trigger.id if trigger else "production_incident",
        kind="incident",
        state="open",
        opened_at=ctx.now,
        message=f"Production incident declared by {actor_name}: {text}",
        value=1.0,
        threshold=0.0,
        step_id=ctx.step_id,
        environment=ctx.environment or (trigger.environment if trigger else "production"),
        auto_rollback_at=ctx.now + delay if delay else None,
        data={"declared_by": actor_name, "text": text},
    )
    return _paused(alert, ctx.now) if ctx.run_paused and delay else alert


def slot_of(kind: str) -> str:
    """A (run, trigger) has at most one active alert per slot; an incident counts as its trigger's breach."""
    return "no_data" if kind == "no_data" else "breach"


def due_for_auto_rollback(alert: AlertRecord, now: datetime) -> bool:
    """Open (or merely acknowledged), still breaching, past its time, and not already started.

    A paused countdown has no ``auto_rollback_at``, so it is never due.
    """
    return (
        alert.kind in BREACH_KINDS
        and alert.state in ("open", "acknowledged")
        and alert.auto_rollback_at is not None
        and now >= alert.auto_rollback_at
        and alert.clear_since is None
        and "auto_rollback_started_at" not in alert.data
    )


def follow_the_run(alert: AlertRecord, now: datetime, run_paused: bool) -> AlertChange | None:
    """Stop a pending countdown while the run is held or paused; start it again when it is active."""
    if alert.kind not in BREACH_KINDS or alert.state not in ("open", "acknowledged"):
        return None
    if "auto_rollback_started_at" in alert.data:
        return None
    if run_paused and alert.auto_rollback_at is not None:
        return AlertChange(_paused(alert, now), "auto_rollback_paused")
    if not run_paused and PAUSED_AT in alert.data:
        left = timedelta(seconds=float(alert.data.get(LEFT_SECONDS) or 0))
        data = {k: v for k, v in alert.data.items() if k not in (PAUSED_AT, LEFT_SECONDS)}
        return AlertChange(replace(alert, auto_rollback_at=now + left, data=data), "auto_rollback_resumed")
    return None


def acknowledge(alert: AlertRecord, actor_id: str, now: datetime) -> AlertChange:
    """Someone is on it; the auto-rollback still happens unless they also hold."""
    data = {**alert.data, "acknowledged_at": now.isoformat()}
    state = alert.state if alert.state == "held" else "acknowledged"
    return AlertChange(replace(alert, state=state, acknowledged_by=actor_id, data=data), "acknowledged")


def hold(alert: AlertRecord, actor_id: str, now: datetime) -> AlertChange:
    """Stop the automatic rollback; a person decides. The alert stays until the condition clears."""
    data = {**alert.data, "held_by": actor_id, "held_at": now.isoformat()}
    return AlertChange(
        replace(alert, state="held", acknowledged_by=alert.acknowledged_by or actor_id, data=data), "held"
    )


def resolve_by_person(alert: AlertRecord, actor_id: str, now: datetime) -> AlertChange:
    """Close an alert by hand (a declared incident is over); nothing else is changed."""
    data = {**alert.data, "resolved_by": actor_id}
    return AlertChange(replace(alert, state="resolved", resolved_at=now, data=data), "resolved_by_person")


# --- a step's rollback_if conditions ------------------------------------------------------------


@dataclass(frozen=True)
class StepWatch:
    """One rollback_if condition of a step done in production, as a trigger the watcher judges.

    ``watching`` False: the step was rolled back or its watch period is over; only the alerts the
    condition already opened are followed, until they close.
    """

    trigger: Trigger
    step_id: str
    watching: bool


def step_trigger(step: Step, index: int, environment: str, several: bool = False) -> Trigger:
    """The trigger judging ``step.rollback_if[index]`` in ``environment`` (named in the id when the
    step has ``several`` production environments). Built unvalidated: its id is deliberately not
    snake_case, so no runbook trigger can share its alert slot; it never rolls back by itself."""
    suffix = f"@{environment}" if several else ""
    return Trigger.model_construct(
        id=f"{STEP_TRIGGER}:{step.id}:{index}{suffix}",
        title=f"Rollback condition of {step.id} {step.title}",
        condition=step.rollback_if[index],
        environment=environment,
        auto_rollback_after=None,
    )


def is_step_trigger(trigger_id: str) -> bool:
    return trigger_id.startswith(f"{STEP_TRIGGER}:")


def trigger_of(runbook: Runbook, trigger_id: str) -> Trigger | None:
    """The runbook trigger, or the step-scoped one, an alert's ``trigger_id`` names (None if gone)."""
    if not is_step_trigger(trigger_id):
        return next((t for t in runbook.triggers if t.id == trigger_id), None)
    _, step_id, rest = trigger_id.split(":", 2)
    index, _, environment = rest.partition("@")
    step = runbook.step(step_id)
    if step is None or not index.isdigit() or int(index) >= len(step.rollback_if):
        return None
    productions = production_environments(runbook, step)
    env = environment or (productions[0] if productions else "production")
    return step_trigger(step, int(index), env, several=bool(environment))


def production_environments(runbook: Runbook, step: Step) -> list[str]:
    return [name for name in step.environments if (env := runbook.environment(name)) is not None and env.production]


def watch_ends(runbook: Runbook, done_at: datetime) -> datetime:
    """Local midnight at the end of the next working day after the one ``done_at`` falls on."""
    zone = ZoneInfo(runbook.calendar.timezone)
    working = {_WEEKDAYS.index(d) for d in runbook.calendar.weekdays}
    day = done_at.astimezone(zone).date() + timedelta(days=1)
    while working and day.weekday() not in working:
        day += timedelta(days=1)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def step_watches(
    runbook: Runbook, lanes: Iterable[StepLane], active_trigger_ids: Iterable[str], now: datetime
) -> Iterator[StepWatch]:
    """The rollback_if conditions to judge at ``now``: those of production lanes done within their
    watch period, and those no longer watched that still have an active alert."""
    by_lane = {(lane.step_id, lane.environment): lane for lane in lanes}
    alerted = set(active_trigger_ids)
    for step in runbook.steps():
        if not step.rollback_if:
            continue
        productions = production_environments(runbook, step)
        for environment in productions:
            lane = by_lane.get((step.id, environment))
            done_at = lane.changed_at if lane is not None and lane.state is StepState.DONE else None
            watching = done_at is not None and now < watch_ends(runbook, done_at)
            for index in range(len(step.rollback_if)):
                trigger = step_trigger(step, index, environment, several=len(productions) > 1)
                if watching or trigger.id in alerted:
                    yield StepWatch(trigger, step.id, watching)


def decide_unwatched(
    trigger: Trigger,
    verdict: Evaluation,
    breach: AlertRecord | None,
    no_data: AlertRecord | None,
    ctx: TriggerContext,
    policy: TriggerPolicy = TriggerPolicy(),
) -> Decision:
    """A condition no longer watched opens nothing; its breach alert is judged until it clears."""
    changes: list[AlertChange] = []
    if no_data is not None:
        changes.append(AlertChange(_resolved(no_data, ctx.now), "no_data_resolved"))
    if breach is not None:
        followed = decide(trigger, verdict, breach, None, 0, ctx, policy)
        changes += [c for c in followed.changes if c.kind not in ("opened", "no_data_opened", "no_data_ongoing")]
    return Decision(changes, 0)


def _no_data_alert(trigger: Trigger, verdict: Evaluation, polls: int, ctx: TriggerContext) -> AlertRecord:
    return AlertRecord(
        id=ctx.new_id,
        run_id=ctx.run_id,
        trigger_id=trigger.id,
        kind="no_data",
        state="open",
        opened_at=ctx.now,
        message=(
            f"{trigger.title}: no usable data for {trigger.condition.metric} in {polls} checks in a row "
            f"({verdict.detail}). The trigger cannot fire until data returns; check the metric source."
        ),
        step_id=ctx.step_id,
        environment=ctx.environment or trigger.environment,
        no_data_polls=polls,
        data={"detail": verdict.detail},
    )


def _paused(alert: AlertRecord, now: datetime) -> AlertRecord:
    assert alert.auto_rollback_at is not None
    left = max(alert.auto_rollback_at - now, timedelta(0)).total_seconds()
    data = {**alert.data, PAUSED_AT: now.isoformat(), LEFT_SECONDS: left}
    return replace(alert, auto_rollback_at=None, data=data)


def _resolved(alert: AlertRecord, now: datetime) -> AlertRecord:
    return replace(alert, state="resolved", resolved_at=now)


def _num(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
