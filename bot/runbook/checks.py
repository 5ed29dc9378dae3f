"""Cross-reference checks: what pydantic cannot see field by field (ids, references, calendar).

The dependency checks are in checks_dependencies, the environment/service ones in checks_resources,
manual actions and timed lists in checks_manual; this module runs them all.

Each finding names a path into the runbook (the same shape as a pydantic ``loc``); the
loader turns paths into file:line:col. Structure is validated first, so these run on a Runbook.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.runbook.checks_dependencies import dependency_cycle_findings, dependency_findings
from bot.runbook.checks_manual import manual_and_checklist_findings
from bot.runbook.checks_resources import environment_findings, service_findings, staging_first_findings
from bot.runbook.conditions import Condition, parse_condition
from bot.runbook.errors import ConditionSyntaxError
from bot.runbook.findings import Finding, Loc, steps_with_locs, unknown
from bot.runbook.models import (
    Runbook,
    ScalingSchedule,
    service_key,
)

__all__ = ["Finding", "Loc", "conditions_with_locs", "cross_reference_findings", "steps_with_locs"]


def cross_reference_findings(runbook: Runbook) -> list[Finding]:
    """Every cross-reference problem of a structurally valid runbook."""
    return [
        *_unique_ids(runbook),
        *_condition_metrics(runbook),
        *_roles(runbook),
        *_calendar_days(runbook),
        *dependency_findings(runbook),
        *dependency_cycle_findings(runbook),
        *environment_findings(runbook),
        *staging_first_findings(runbook),
        *_cost_impacts(runbook),
        *service_findings(runbook),
        *_time_zones(runbook),
        *_time_windows(runbook),
        *(Finding(loc, message) for loc, message in manual_and_checklist_findings(runbook)),
    ]


def conditions_with_locs(runbook: Runbook) -> Iterator[tuple[Loc, Condition]]:
    """Every condition anywhere in the runbook, with its path."""
    for t, trigger in enumerate(runbook.triggers):
        yield ("triggers", t, "condition"), trigger.condition
    for g, gate in enumerate(runbook.gates):
        for h, check in enumerate(gate.health_checks):
            if check.condition is not None:
                yield ("gates", g, "health_checks", h, "condition"), check.condition
        for c, section in enumerate(gate.sections):
            for i, item in enumerate(section.items):
                if item.condition is not None:
                    yield ("gates", g, "sections", c, "items", i, "condition"), item.condition
    for loc, step in steps_with_locs(runbook):
        for i, condition in enumerate(step.acceptance):
            yield (*loc, "acceptance", i), condition
        for i, condition in enumerate(step.rollback_if):
            yield (*loc, "rollback_if", i), condition
        for i, condition in enumerate(step.recheck):
            yield (*loc, "recheck", i), condition
        if step.verification is not None:
            for i, condition in enumerate(step.verification.conditions):
                yield (*loc, "verification", "conditions", i), condition
        for a, action in enumerate(step.actions):
            if action.kind == "metric.gate":
                yield (*loc, "actions", a, "condition"), action.condition
        for i, item in enumerate(step.checklist):
            if item.condition is not None:
                yield (*loc, "checklist", i, "condition"), item.condition
        for c, group in enumerate(step.checklists):
            for i, item in enumerate(group.items):
                if item.condition is not None:
                    yield (*loc, "checklists", c, "items", i, "condition"), item.condition
    for q, quality in enumerate(runbook.targets.quality):
        if quality.condition is not None:
            yield ("targets", "quality", q, "condition"), quality.condition


def _duplicates(kind: str, entries: Iterable[tuple[Loc, str]]) -> Iterator[Finding]:
    first: dict[str, Loc] = {}
    for loc, value in entries:
        if value in first:
            yield Finding(loc, f"duplicate {kind} '{value}'; each {kind} must be unique", first=first[value])
        else:
            first[value] = loc


def _unique_ids(rb: Runbook) -> Iterator[Finding]:
    yield from _duplicates("step id", (((*loc, "id"), step.id) for loc, step in steps_with_locs(rb)))
    yield from _duplicates("day number", ((("days", d, "number"), str(day.number)) for d, day in enumerate(rb.days)))
    yield from _duplicates("gate id", ((("gates", g, "id"), gate.id) for g, gate in enumerate(rb.gates)))
    yield from _duplicates("metric id", ((("metrics", m, "id"), metric.id) for m, metric in enumerate(rb.metrics)))
    yield from _duplicates("trigger id", ((("triggers", t, "id"), trig.id) for t, trig in enumerate(rb.triggers)))
    yield from _duplicates("role id", ((("roles", r, "id"), role.id) for r, role in enumerate(rb.roles)))
    yield from _duplicates(
        "environment", ((("environments", e, "name"), env.name) for e, env in enumerate(rb.environments))
    )
    yield from _duplicates("service", ((("services", s, "name"), svc.name) for s, svc in enumerate(rb.services)))
    yield from _duplicates(
        "Cloud SQL instance",
        ((("sql_instances", i, "name"), sql.name) for i, sql in enumerate(rb.sql_instances)),
    )
    for loc, step in steps_with_locs(rb):
        yield from _duplicates(
            "checklist item id",
            [
                *(((*loc, "checklist", i, "id"), item.id) for i, item in enumerate(step.checklist)),
                *(
                    ((*loc, "checklists", c, "items", i, "id"), item.id)
                    for c, group in enumerate(step.checklists)
                    for i, item in enumerate(group.items)
                ),
            ],
        )
    for g, gate in enumerate(rb.gates):
        yield from _duplicates(
            "checklist item id",
            (
                (("gates", g, "sections", c, "items", i, "id"), item.id)
                for c, section in enumerate(gate.sections)
                for i, item in enumerate(section.items)
            ),
        )


def _condition_metrics(rb: Runbook) -> Iterator[Finding]:
    known = {metric.id for metric in rb.metrics}
    for loc, condition in conditions_with_locs(rb):
        try:
            parse_condition(condition.text or str(condition), known)
        except ConditionSyntaxError as exc:
            yield Finding(loc, exc.message, column=exc.column)
            continue
        metric = rb.metric(condition.metric)
        if condition.threshold.relative_to_baseline and metric is not None and metric.baseline is None:
            yield Finding(loc, f"the threshold uses 'baseline' but metric '{metric.id}' has no baseline; give it one")
    for p, target in enumerate(rb.targets.performance):
        if target.metric not in known:
            yield Finding(("targets", "performance", p, "metric"), unknown("metric", target.metric, known))


def _roles(rb: Runbook) -> Iterator[Finding]:
    known = [role.id for role in rb.roles]
    for loc, step in steps_with_locs(rb):
        for a, rule in enumerate(step.approvals):
            if rule.role not in known:
                yield Finding((*loc, "approvals", a, "role"), unknown("role", rule.role, known))
    for g, gate in enumerate(rb.gates):
        for s, role in enumerate(gate.signoffs):
            if role not in known:
                yield Finding(("gates", g, "signoffs", s), unknown("role", role, known))
    for a, role in enumerate(rb.schedule.standup_attendees):
        if role not in known:
            yield Finding(("schedule", "standup_attendees", a), unknown("role", role, known))


def _calendar_days(rb: Runbook) -> Iterator[Finding]:
    last = rb.calendar.working_days

    def beyond(loc: Loc, what: str, day: int | None) -> Iterator[Finding]:
        if day is not None and not 1 <= day <= last:
            yield Finding(
                loc,
                f"{what} {day} is outside the calendar's {last} working days; "
                "renumber it or raise calendar.working_days",
            )

    phases = [phase.name for phase in rb.phases]
    for d, day in enumerate(rb.days):
        yield from beyond(("days", d, "number"), "day", day.number)
        if day.phase is not None and phases and day.phase not in phases:
            yield Finding(("days", d, "phase"), unknown("phase", day.phase, phases))
        for s, step in enumerate(day.steps):
            if step.day != day.number:
                yield Finding(
                    ("days", d, "steps", s, "id"),
                    f"step {step.id} is listed under day {day.number}; move it to day {step.day} "
                    f"or rename it day{day.number}.N",
                )
    for g, gate in enumerate(rb.gates):
        yield from beyond(("gates", g, "day"), "gate day", gate.day)
        yield from beyond(("gates", g, "unlocks_day"), "unlocks_day", gate.unlocks_day)
    for p, phase in enumerate(rb.phases):
        yield from beyond(("phases", p, "first_day"), "first_day", phase.first_day)
        yield from beyond(("phases", p, "last_day"), "last_day", phase.last_day)
        if phase.first_day > phase.last_day:
            yield Finding(("phases", p, "last_day"), f"phase '{phase.name}' ends before it starts")
    yield from beyond(("schedule", "summary_day"), "summary_day", rb.schedule.summary_day)
    yield from beyond(("schedule", "final_report_day"), "final_report_day", rb.schedule.final_report_day)


def _cost_impacts(rb: Runbook) -> Iterator[Finding]:
    """A saving whose service has no cost target lands in a report row with no baseline or target."""
    targets = [target.service for target in rb.targets.cost]
    if not targets:  # without cost targets the report lists savings by themselves
        return
    keys = {service_key(name) for name in targets}
    for loc, step in steps_with_locs(rb):
        impact = step.cost_impact
        if impact is not None and service_key(impact.service) not in keys:
            yield Finding(
                (*loc, "cost_impact", "service"),
                f"cost_impact names '{impact.service}', which has no cost target (targets.cost lists "
                f"{', '.join(targets)}); name one of those or add {impact.service} to targets.cost",
            )


def _time_zones(rb: Runbook) -> Iterator[Finding]:
    zones: list[tuple[Loc, str]] = [(("calendar", "timezone"), rb.calendar.timezone)]
    zones += [(("schedule", "standups", i, "timezone"), s.timezone) for i, s in enumerate(rb.schedule.standups)]
    for loc, step in steps_with_locs(rb):
        for a, action in enumerate(step.actions):
            if isinstance(action, ScalingSchedule) and action.timezone is not None:
                zones.append(((*loc, "actions", a, "timezone"), action.timezone))
    for loc, zone in zones:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield Finding(loc, unknown("time zone", zone, available_timezones()) + " (use an IANA name)")


def _time_windows(rb: Runbook) -> Iterator[Finding]:
    for loc, step in steps_with_locs(rb):
        if step.window is not None and step.window.start >= step.window.end:
            yield Finding((*loc, "window", "end"), "the window must end after it starts")
        for a, action in enumerate(step.actions):
            if not isinstance(action, ScalingSchedule):
                continue
            for r, rule in enumerate([*action.rules, action.otherwise]):
                rule_loc: Loc = (
                    *loc,
                    "actions",
                    a,
                    *(("rules", r) if r < len(action.rules) else ("otherwise",)),
                )
                if rule.min_instances > rule.max_instances:
                    yield Finding((*rule_loc, "min_instances"), "min_instances must not exceed max_instances")
                if r < len(action.rules) and rule.start >= rule.end:
                    yield Finding((*rule_loc, "end"), f"rule '{rule.name}' must end after it starts")
