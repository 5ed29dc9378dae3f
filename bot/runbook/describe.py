"""Text renderings of a runbook as a person reads it: plan lines, a step, a gate, the outline.

Static: they come from the model alone (no live state), so ``ionbot show`` works offline;
the engine's ``Action.describe`` adds the live diff on top.
"""

from __future__ import annotations

from datetime import time

from bot.runbook.conditions import Condition
from bot.runbook.durations import format_duration
from bot.runbook.models import (
    STEP_LANE,
    Action,
    Checklist,
    CloudRunDeploy,
    CloudRunEnv,
    CloudRunScale,
    CloudRunTraffic,
    CloudSqlDelete,
    CloudSqlPromote,
    CloudSqlReplica,
    CloudSqlTier,
    Gate,
    HttpLoad,
    HttpSmoke,
    Manual,
    MetricGate,
    Runbook,
    ScalingRule,
    ScalingSchedule,
    SqlBenchmark,
    SqlExecute,
    SqlQuery,
    Step,
    TimeWindow,
    Wait,
)


def describe_action(action: Action, environment_name: str | None = None) -> str:
    """One plan line, e.g. 'Scale ion-mentoring-api in us-central1 to minInstances 2'."""
    line = _plan_line(action)
    return f"{line} ({environment_name})" if environment_name else line


def _plan_line(action: Action) -> str:
    """One line per action kind, grouped by family; the scaling schedule is the last kind left."""
    line = _cloud_run_line(action) or _cloud_sql_line(action) or _probe_line(action) or _flow_line(action)
    if line is not None:
        return line
    assert isinstance(action, ScalingSchedule)
    return _schedule_line(action)


def _cloud_run_line(action: Action) -> str | None:
    if isinstance(action, CloudRunScale):
        limits = [f"minInstances {action.min_instances}"] if action.min_instances is not None else []
        limits += [f"maxInstances {action.max_instances}"] if action.max_instances is not None else []
        return f"Scale {action.service} {_regions(action.regions)} to {' and '.join(limits)}"
    if isinstance(action, CloudRunEnv):
        changes = [f"{k}={v}" for k, v in action.set.items()] + [f"unset {k}" for k in action.unset]
        return f"Set env {', '.join(changes)} on {action.service} {_regions(action.regions)}"
    if isinstance(action, CloudRunTraffic):
        target = "the latest revision" if action.to == "latest" else f"revision tag {action.to}"
        return f"Route {action.percent}% of {action.service} traffic {_regions(action.regions)} to {target}"
    if isinstance(action, CloudRunDeploy):
        extras = [f"tag {action.tag}"] if action.tag else []
        extras += [f"env {', '.join(f'{k}={v}' for k, v in action.env.items())}"] if action.env else []
        tail = f" ({'; '.join(extras)})" if extras else ""
        return (
            f"Deploy {action.image or 'the same image'} to {action.service} {_regions(action.regions)} "
            f"with {action.traffic_percent}% of traffic{tail}"
        )
    return None


def _cloud_sql_line(action: Action) -> str | None:
    if isinstance(action, CloudSqlTier):
        return (
            f"Change Cloud SQL instance {action.instance} to tier {action.tier} "
            f"(wait up to {format_duration(action.timeout)})"
        )
    if isinstance(action, CloudSqlReplica):
        return (
            f"Create Cloud SQL read replica {action.instance} of {action.master} on tier {action.tier} "
            f"(wait up to {format_duration(action.timeout)})"
        )
    if isinstance(action, CloudSqlPromote):
        return (
            f"Promote Cloud SQL replica {action.instance} to primary; {action.standby} stays as the standby "
            "(a promotion cannot be undone)"
        )
    if isinstance(action, CloudSqlDelete):
        return (
            f"Delete Cloud SQL instance {action.instance} once {action.after_promotion_of} has been promoted "
            f"for {format_duration(action.keep_for)} (cannot be undone)"
        )
    return None


def _probe_line(action: Action) -> str | None:
    """HTTP smoke and load tests, SQL queries, data changes and benchmarks."""
    if isinstance(action, HttpSmoke):
        return (
            f"Smoke test {action.path}: {action.requests} requests, concurrency {action.concurrency}; "
            f"pass if {_limits(action.max_p95_ms, action.max_error_rate_pct)}"
        )
    if isinstance(action, HttpLoad):
        return (
            f"Load test {action.path} at {_num(action.rate_rps)} rps, concurrency {action.concurrency}, "
            f"for {format_duration(action.duration)} (at most {action.max_requests} requests); "
            f"pass if {_limits(action.max_p95_ms, action.max_error_rate_pct)}"
        )
    if isinstance(action, SqlQuery):
        expect = f"; expect '{action.expect}'" if action.expect else ""
        return f"Run query (up to {action.row_cap} rows): {_one_line(action.sql)}{expect}"
    if isinstance(action, SqlExecute):
        return f"Execute: {_one_line(action.sql)} (undo: {_one_line(action.revert_sql)})"
    if isinstance(action, SqlBenchmark):
        bounds = [f"mean < {_num(action.max_mean_ms)} ms"] if action.max_mean_ms is not None else []
        bounds += [f"p95 < {_num(action.max_p95_ms)} ms"] if action.max_p95_ms is not None else []
        verdict = f"; pass if {' and '.join(bounds)}" if bounds else ""
        return f"Benchmark {len(action.queries)} queries x{action.repeat}{verdict}"
    return None


def _flow_line(action: Action) -> str | None:
    """What holds the step: a metric check, a wait, work done by hand."""
    if isinstance(action, MetricGate):
        return f"Check {describe_condition(action.condition)}"
    if isinstance(action, Wait):
        reason = f": {action.reason}" if action.reason else ""
        return f"Wait {format_duration(action.duration)}{reason}"
    if isinstance(action, Manual):
        who = f"the {action.by}" if action.by else "anyone on the team"
        value = ""
        if action.value is not None:
            rule = f", accepted if {describe_condition(action.accept)}" if action.accept is not None else ""
            value = f"; enters {action.value.name} ({action.value.unit}{rule})"
        return f"By hand: {action.instruction} (Done by {who}{value})"
    return None


def _schedule_line(action: ScalingSchedule) -> str:
    zone = f" ({action.timezone})" if action.timezone else ""
    rules = "; ".join(f"{_span(rule)} {_bounds(rule)}" for rule in action.rules)
    return (
        f"Schedule scaling of {action.service} {_regions(action.regions)}{zone}: {rules}; "
        f"otherwise {_bounds(action.otherwise)}"
    )


def _span(rule: ScalingRule) -> str:
    return f"{_clock(rule.start)}-{_clock(rule.end)}"


def _bounds(rule: ScalingRule) -> str:
    return f"min {rule.min_instances}/max {rule.max_instances}"


def _limits(max_p95_ms: float | None, max_error_rate_pct: float | None) -> str:
    parts = [f"p95 < {_num(max_p95_ms)} ms"] if max_p95_ms is not None else []
    parts += [f"error rate <= {_num(max_error_rate_pct)}%"] if max_error_rate_pct is not None else []
    return " and ".join(parts) or "every request answers"


def _regions(regions: list[str] | str) -> str:
    return "in all regions" if regions == "all" else "in " + ", ".join(regions)


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def _window(window: TimeWindow | None) -> str:
    return f"{_clock(window.start)}-{_clock(window.end)}" if window else "any time"


def describe_condition(condition: Condition) -> str:
    return condition.text or str(condition)


# --- whole step, gate, outline ---------------------------------------------------------------------


def describe_step(runbook: Runbook, step: Step) -> str:
    """The step as a page: objective, window, plan, checklist, criteria, impact, approvals."""
    lines = [
        f"{step.id}: {step.title}",
        f"  Day {step.day}, {_window(step.window)} ({runbook.calendar.timezone})",
    ]
    if step.objective:
        lines.append(f"  Objective: {step.objective}")
    envs = ", ".join(step.environments)
    lines.append(f"  Environments: {envs}" + (" (staging first)" if step.staging_first else ""))
    if step.depends_on:
        lines.append(f"  Depends on: {', '.join(step.depends_on)}")
    if step.actions:
        lines.append("  Plan:")
        for n, action in enumerate(step.actions, 1):
            title = f"{action.title}: " if action.title else ""
            only = f" [only in {', '.join(action.environments)}]" if action.environments else ""
            lines.append(f"    {n}. {title}{describe_action(action)}{only}")
    for group in step.checklist_groups():
        _section(lines, _list_title(group), [_item(i.text, i.condition) for i in group.items])
    _section(lines, "Acceptance criteria", [describe_condition(c) for c in step.acceptance])
    _section(lines, "Roll back if", [describe_condition(c) for c in step.rollback_if])
    _section(lines, "Re-checked before a production run", [describe_condition(c) for c in step.recheck])
    if step.verification is not None:
        checks = ", ".join(describe_condition(c) for c in step.verification.conditions) or "watch"
        lines.append(f"  Verification: {format_duration(step.verification.window)} after applying: {checks}")
    if step.expected_impact:
        lines.append(f"  Expected impact: {step.expected_impact}")
    if step.cost_impact is not None:
        lines.append(f"  Cost impact: {step.cost_impact.service} {_usd(step.cost_impact.monthly_usd)}/month")
    approvals = [f"{rule.count} x {_role(runbook, rule.role)}" for rule in step.approvals]
    lines.append(f"  Approvals: {', '.join(approvals) if approvals else 'none'}")
    if step.rollback is not None:
        _section(lines, f"Rollback: {step.rollback.description}", step.rollback.commands)
    if step.notes:
        _section(lines, "Notes", step.notes.splitlines(), bullet="")
    return "\n".join(lines)


COUNTS = {
    "incidents": "counts every fired rollback trigger, rollback and declared incident since the phase started",
    "trigger_breaches": "fails on any breach of a rollback trigger in the phase's metrics",
    "steps_done": "every step of the days up to this one is done (rolled back and not re-run is not done)",
    "triggers_backtested": "the runbook was backtested in the last 7 days with no red line (ionbot backtest)",
}


def _health(condition: Condition | None, counts: str | None) -> str:
    return describe_condition(condition) if condition is not None else COUNTS.get(counts or "", str(counts))


def _list_title(group: Checklist) -> str:
    """``Verification (production; due 30m after the production change landed)``."""
    parts = [] if group.lane == STEP_LANE else [group.lane]
    if group.after is not None:
        wait = f"{format_duration(group.wait)} after" if group.wait is not None else "once"
        parts.append(f"due {wait} the {group.after} change landed")
    return f"{group.title} ({'; '.join(parts)})" if parts else group.title


def describe_gate(runbook: Runbook, gate: Gate) -> str:
    """A Go/No-Go as a page: health checks, manual sections, the decision and sign-offs."""
    lines = [
        f"{gate.id}: {gate.title}",
        f"  Day {gate.day} at {_clock(gate.at)} ({runbook.calendar.timezone})",
    ]
    if gate.unlocks_day is not None:
        lines.append(f"  Must be YES before day {gate.unlocks_day} steps run")
    _section(
        lines,
        "Health checks",
        [f"{c.label}  [{_health(c.condition, c.counts)}]" for c in gate.health_checks],
    )
    for section in gate.sections:
        _section(lines, section.title, [_item(i.text, i.condition) for i in section.items])
    lines.append(f"  Decision: {gate.yes_label} / {gate.no_label}")
    signoffs = ", ".join(_role(runbook, role) for role in gate.signoffs)
    lines.append(f"  Sign-offs: {signoffs or 'none'}")
    return "\n".join(lines)


def describe_outline(runbook: Runbook) -> str:
    """Days with their steps and the gates that fall on them, in order."""
    lines = [f"{runbook.id}: {runbook.title} ({runbook.calendar.working_days} working days)"]
    numbers = sorted({d.number for d in runbook.days} | {g.day for g in runbook.gates})
    for number in numbers:
        day = runbook.day(number)
        heading = f"Day {number}" + (f": {day.title}" if day else "")
        if day and day.phase:
            heading += f" [{day.phase}]"
        lines.append(heading)
        gates = sorted((g for g in runbook.gates if g.day == number), key=lambda g: g.at)
        for step in _in_order(day.steps if day else []):
            while gates and step.window and step.window.start >= gates[0].at:
                lines.append(_gate_row(gates.pop(0)))
            lines.append(f"  step {step.id:<13} {_window(step.window):<11}  {step.title}")
        lines.extend(_gate_row(gate) for gate in gates)
    return "\n".join(lines)


def _gate_row(gate: Gate) -> str:
    return f"  gate {gate.id:<13} {_clock(gate.at)}        {gate.title}"


def _in_order(steps: list[Step]) -> list[Step]:
    """By window start (a step without a window: any time), but never before a step it depends on."""
    by_start = sorted(steps, key=lambda s: s.window.start if s.window else time(0, 0))
    same_day = {s.id: s for s in steps}
    ordered: list[Step] = []
    seen: set[str] = set()

    def place(step: Step) -> None:
        if step.id in seen:
            return
        seen.add(step.id)  # before its dependencies: a cycle (refused by `ionbot check`) cannot loop here
        for dependency in step.depends_on:
            if dependency in same_day:
                place(same_day[dependency])
        ordered.append(step)

    for step in by_start:
        place(step)
    return ordered


def _section(lines: list[str], title: str, items: list[str], bullet: str = "- ") -> None:
    if items:
        lines.append(f"  {title}:")
        lines.extend(f"    {bullet}{item}" for item in items)


def _item(text: str, condition: Condition | None) -> str:
    return f"[ ] {text}" + (f"  [{describe_condition(condition)}]" if condition is not None else "")


def _role(runbook: Runbook, role_id: str) -> str:
    role = next((r for r in runbook.roles if r.id == role_id), None)
    return f"{role.title} ({role_id})" if role else role_id


def _usd(amount: float) -> str:
    sign = "-" if amount < 0 else "+"
    return f"{sign}${_num(abs(amount))}"
