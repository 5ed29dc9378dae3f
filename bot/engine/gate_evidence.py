"""What a decision point counts: the record of its phase, not a 24-hour mean.

A gate's ``counts`` health checks read the gate's window, from the start (local midnight) of the
first day of the phase the gate belongs to, up to now:

- ``incidents``: every rollback trigger that fired (an alert of a runbook trigger or of a step's
  ``rollback_if``), every rollback, and every incident a person declared. Any one is a fail.
- ``trigger_breaches``: every rollback trigger whose condition held somewhere in the window's
  metrics (a ten-minute P95 spike is a breach, whatever the day's mean), plus the fired alerts.
- ``steps_done``: every step of the days up to the gate's that is not done in every environment;
  a step rolled back and not re-run is not done.

Each result lists what it counted, so the gate card can show it (with the alerts' ids to link).
"""

from __future__ import annotations

from datetime import datetime, time

from bot.engine.backtest_check import measure as backtested
from bot.engine.context import Context
from bot.engine.gate_counts import Counted as Counted
from bot.engine.gate_counts import Evidence as Evidence
from bot.engine.ports import AlertRecord, BreachScanner, CheckResult
from bot.engine.records import ExecutionState, Run, StepState
from bot.engine.triggers import trigger_of
from bot.runbook.models import Environment, Gate, HealthCheck

FIRED_KINDS = ("breach", "incident")


def window_start(ctx: Context, run: Run, gate: Gate) -> datetime:
    """Local midnight of the first day of the gate's phase (Day 1 when the runbook has no phases)."""
    phase = next((p for p in ctx.runbook.phases if p.first_day <= gate.day <= p.last_day), None)
    calendar = ctx.calendar(run)
    first = max(1, min(phase.first_day if phase else 1, calendar.working_days))
    return calendar.at(calendar.date_of(first), time(0))


def phase_name(ctx: Context, run: Run, gate: Gate) -> str:
    start = window_start(ctx, run, gate)
    day = ctx.calendar(run).day_of(start.astimezone(ctx.zone).date()) or 1
    return f"since Day {day} 00:00"


async def measure(ctx: Context, run: Run, gate: Gate, check: HealthCheck, env: Environment) -> Evidence:
    now = ctx.clock.now()
    if check.counts == "incidents":
        return await _incidents(ctx, run, gate, now)
    if check.counts == "trigger_breaches":
        return await _breaches(ctx, run, gate, now)
    if check.counts == "steps_done":
        return await _steps_done(ctx, run, gate)
    if check.counts == "triggers_backtested":
        return await backtested(ctx, gate, check, now)
    assert check.condition is not None  # the model requires one of the two
    return Evidence(await ctx.checker.check(check.condition, env, now))


def _verdict(label: str, counted: list[Counted], what: str, since: str) -> CheckResult:
    n = len(counted)
    if n == 0:
        return CheckResult(label, True, 0, 0, f"no {what} {since}")
    shown = "; ".join(c.text for c in counted[:6]) + (f"; and {n - 6} more" if n > 6 else "")
    return CheckResult(label, False, n, 0, f"{n} {what} {since}: {shown}")


async def _fired_alerts(ctx: Context, run: Run, start: datetime, now: datetime) -> list[AlertRecord] | None:
    history = ctx.alert_history
    if history is None:
        return None
    return [a for a in await history.alerts(run.id) if a.kind in FIRED_KINDS and start <= a.opened_at <= now]


def _alert_line(ctx: Context, alert: AlertRecord) -> Counted:
    trigger = trigger_of(ctx.runbook, alert.trigger_id)
    title = trigger.title if trigger is not None and alert.kind != "incident" else alert.message
    where = f" ({alert.step_id})" if alert.step_id else ""
    return Counted(f"alert {alert.id[:8]} {title}{where} at {ctx.show_time(alert.opened_at)}", alert.id)


async def _incidents(ctx: Context, run: Run, gate: Gate, now: datetime) -> Evidence:
    start = window_start(ctx, run, gate)
    since = phase_name(ctx, run, gate)
    alerts = await _fired_alerts(ctx, run, start, now)
    if alerts is None:
        result = CheckResult("incidents", None, None, 0, "the fired alerts cannot be read here, so nothing is counted")
        return Evidence(result)
    counted = [_alert_line(ctx, a) for a in alerts if a.kind == "breach"]
    for execution in await ctx.store.executions(run.id):
        if execution.kind == "rollback" and start <= execution.started_at <= now:
            how = "" if execution.state is ExecutionState.SUCCEEDED else f" ({execution.state.value})"
            counted.append(
                Counted(
                    f"rollback of {execution.step_id} ({execution.environment}) at "
                    f"{ctx.show_time(execution.started_at)}{how}"
                )
            )
    declared = {a.message: a.id for a in alerts if a.kind == "incident"}
    for incident in await ctx.store.incidents(run.id):
        if start <= incident.at <= now:
            counted.append(
                Counted(
                    f"incident declared by {incident.opened_by_name} at {ctx.show_time(incident.at)}: {incident.text}",
                    declared.get(incident.text),
                )
            )
    what = "fired triggers, rollbacks or declared incidents"
    return Evidence(_verdict("incidents", counted, what, since), tuple(counted))


async def _breaches(ctx: Context, run: Run, gate: Gate, now: datetime) -> Evidence:
    start = window_start(ctx, run, gate)
    since = phase_name(ctx, run, gate)
    scanner = ctx.checker if isinstance(ctx.checker, BreachScanner) else None
    counted: list[Counted] = []
    seen: set[str] = set()
    unreadable: list[str] = []
    for trigger in ctx.runbook.triggers:
        metric = ctx.runbook.metric(trigger.condition.metric)
        env = ctx.runbook.environment(trigger.environment)
        if metric is None or metric.source == "incidents" or env is None or scanner is None:
            continue
        spans = await scanner.breaches(trigger.condition, env, start, now)
        if spans is None:
            unreadable.append(trigger.condition.metric)
            continue
        for span in spans:
            seen.add(trigger.id)
            counted.append(
                Counted(
                    f"{trigger.title}: {trigger.condition} held {ctx.show_time(span.start)}-"
                    f"{ctx.show_time(span.end)} (worst {span.worst:g})"
                )
            )
    alerts = await _fired_alerts(ctx, run, start, now) or []
    counted += [_alert_line(ctx, a) for a in alerts if a.kind == "breach" and a.trigger_id not in seen]
    if scanner is None and not counted:
        return Evidence(CheckResult("trigger breaches", None, None, 0, "the metrics cannot be scanned here"))
    if unreadable and not counted:
        detail = f"could not read {', '.join(sorted(set(unreadable)))} {since}; no data is never healthy"
        return Evidence(CheckResult("trigger breaches", None, None, 0, detail))
    return Evidence(_verdict("trigger breaches", counted, "rollback trigger breaches", since), tuple(counted))


async def _steps_done(ctx: Context, run: Run, gate: Gate) -> Evidence:
    lanes = {(lane.step_id, lane.environment): lane for lane in await ctx.store.lanes(run.id)}
    counted: list[Counted] = []
    for step in ctx.runbook.steps():
        if step.day > gate.day:
            continue
        open_lanes = []
        for env in step.environments:
            lane = lanes.get((step.id, env))
            state = lane.state if lane else StepState.PENDING
            if state is StepState.DONE or (state is StepState.SKIPPED and lane is not None and lane.reason):
                continue
            when = f" at {ctx.show_time(lane.changed_at)}" if lane is not None and lane.changed_at else ""
            rerun = " and not re-run" if state is StepState.ROLLED_BACK else ""
            open_lanes.append(f"{env} {state.value}{when}{rerun}")
        if open_lanes:
            counted.append(Counted(f"{step.id} {step.title}: {', '.join(open_lanes)}"))
    n = len(counted)
    days = f"days 1-{gate.day}" if gate.day > 1 else "day 1"
    if n == 0:
        return Evidence(CheckResult("steps done", True, 0, 0, f"every step of {days} is done"))
    shown = "; ".join(c.text for c in counted[:6]) + (f"; and {n - 6} more" if n > 6 else "")
    return Evidence(CheckResult("steps done", False, n, 0, f"{n} step(s) of {days} not done: {shown}"), tuple(counted))


async def newest_event(ctx: Context, run: Run, gate: Gate) -> tuple[datetime, str] | None:
    """The newest thing a ``counts: incidents`` check would count now (when, and what), if any:
    a YES must not stand on a measurement taken before it."""
    now = ctx.clock.now()
    start = window_start(ctx, run, gate)
    found: list[tuple[datetime, str]] = []
    for alert in await _fired_alerts(ctx, run, start, now) or []:
        found.append((alert.opened_at, _alert_line(ctx, alert).text))
    for execution in await ctx.store.executions(run.id):
        if execution.kind == "rollback" and start <= execution.started_at <= now:
            found.append((execution.started_at, f"rollback of {execution.step_id} ({execution.environment})"))
    for incident in await ctx.store.incidents(run.id):
        if start <= incident.at <= now:
            found.append((incident.at, f"incident declared by {incident.opened_by_name}"))
    return max(found, key=lambda f: f[0]) if found else None
