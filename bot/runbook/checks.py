"""Cross-reference checks: what pydantic cannot see field by field (ids, references, calendar).

Each finding names a path into the runbook (the same shape as a pydantic ``loc``); the
loader turns paths into file:line:col. Structure is validated first, so these run on a Runbook.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.runbook.checks_manual import manual_and_checklist_findings
from bot.runbook.conditions import Condition, parse_condition
from bot.runbook.errors import ConditionSyntaxError
from bot.runbook.models import (
    CloudSqlDelete,
    CloudSqlPromote,
    CloudSqlReplica,
    CloudSqlTier,
    HttpLoad,
    HttpSmoke,
    Runbook,
    ScalingSchedule,
    SqlBenchmark,
    SqlExecute,
    SqlQuery,
    Step,
    service_key,
)
from bot.runbook.suggest import did_you_mean

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """A problem at ``loc``; ``column`` is 1-based inside the scalar there; ``first`` is an earlier twin."""

    loc: Loc
    message: str
    column: int | None = None
    first: Loc | None = None


def cross_reference_findings(runbook: Runbook) -> list[Finding]:
    """Every cross-reference problem of a structurally valid runbook."""
    return [
        *_unique_ids(runbook),
        *_condition_metrics(runbook),
        *_roles(runbook),
        *_calendar_days(runbook),
        *_dependencies(runbook),
        *_dependency_cycles(runbook),
        *_environments(runbook),
        *_staging_first(runbook),
        *_cost_impacts(runbook),
        *_services_and_instances(runbook),
        *_time_zones(runbook),
        *_time_windows(runbook),
        *(Finding(loc, message) for loc, message in manual_and_checklist_findings(runbook)),
    ]


def steps_with_locs(runbook: Runbook) -> Iterator[tuple[Loc, Step]]:
    for d, day in enumerate(runbook.days):
        for s, step in enumerate(day.steps):
            yield ("days", d, "steps", s), step


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
            yield Finding(("targets", "performance", p, "metric"), _unknown("metric", target.metric, known))


def _unknown(kind: str, name: str, known: Iterable[str], n: int = 1) -> str:
    return f"unknown {kind} '{name}'{did_you_mean(name, known, n=n)}"


def _roles(rb: Runbook) -> Iterator[Finding]:
    known = [role.id for role in rb.roles]
    for loc, step in steps_with_locs(rb):
        for a, rule in enumerate(step.approvals):
            if rule.role not in known:
                yield Finding((*loc, "approvals", a, "role"), _unknown("role", rule.role, known))
    for g, gate in enumerate(rb.gates):
        for s, role in enumerate(gate.signoffs):
            if role not in known:
                yield Finding(("gates", g, "signoffs", s), _unknown("role", role, known))
    for a, role in enumerate(rb.schedule.standup_attendees):
        if role not in known:
            yield Finding(("schedule", "standup_attendees", a), _unknown("role", role, known))


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
            yield Finding(("days", d, "phase"), _unknown("phase", day.phase, phases))
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


def _dependencies(rb: Runbook) -> Iterator[Finding]:
    known = [step.id for step in rb.steps()] + [gate.id for gate in rb.gates]
    for loc, step in steps_with_locs(rb):
        for i, ref in enumerate(step.depends_on):
            if ref == step.id:
                yield Finding((*loc, "depends_on", i), f"step {step.id} cannot depend on itself")
            elif ref not in known:
                yield Finding((*loc, "depends_on", i), _unknown("step or gate", ref, known, n=3))


def _dependency_cycles(rb: Runbook) -> Iterator[Finding]:
    """Steps that wait on each other in a ring can never run; one finding per ring, at its first step."""
    where: dict[str, tuple[Loc, Step]] = {}
    after: dict[str, list[str]] = {}
    for loc, step in steps_with_locs(rb):
        if step.id not in where:  # a duplicate id is reported on its own; the first one counts, as in rb.step
            where[step.id] = (loc, step)
            after[step.id] = [ref for ref in step.depends_on if ref != step.id]  # self: reported on its own
    reported: set[str] = set()
    for start in where:
        if start in reported:
            continue
        ring = _shortest_cycle(start, after)
        if ring is None:
            continue
        reported |= _reachable(start, after) & _reachable(start, _reversed(after))
        loc, step = where[start]
        yield Finding(
            (*loc, "depends_on", step.depends_on.index(ring[1])),
            f"depends_on makes a cycle: {' → '.join(ring)}; none of these steps could ever run, "
            "so remove one of the dependencies",
        )


def _shortest_cycle(start: str, after: dict[str, list[str]]) -> list[str] | None:
    """start → ... → start by breadth-first search, or None when no path leads back."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for ref in after.get(node, []):
                if ref == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if ref in after and ref not in came_from:
                    came_from[ref] = node
                    following.append(ref)
        frontier = following
    return None


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for ref in edges.get(stack.pop(), []):
            if ref not in seen:
                seen.add(ref)
                stack.append(ref)
    return seen


def _reversed(edges: dict[str, list[str]]) -> dict[str, list[str]]:
    back: dict[str, list[str]] = {node: [] for node in edges}
    for node, refs in edges.items():
        for ref in refs:
            back.setdefault(ref, []).append(node)
    return back


def _environments(rb: Runbook) -> Iterator[Finding]:
    known = [env.name for env in rb.environments]

    def check(loc: Loc, name: str) -> Iterator[Finding]:
        if name not in known:
            yield Finding(loc, _unknown("environment", name, known))

    for i, instance in enumerate(rb.sql_instances):
        yield from check(("sql_instances", i, "environment"), instance.environment)
    for t, trigger in enumerate(rb.triggers):
        yield from check(("triggers", t, "environment"), trigger.environment)
    for loc, step in steps_with_locs(rb):
        for e, name in enumerate(step.environments):
            yield from check((*loc, "environments", e), name)
        for a, action in enumerate(step.actions):
            for e, name in enumerate(action.environments or []):
                if name not in known:
                    yield from check((*loc, "actions", a, "environments", e), name)
                elif name not in step.environments:
                    yield Finding(
                        (*loc, "actions", a, "environments", e),
                        f"the action is limited to '{name}', where step {step.id} never runs; "
                        f"add it to the step's environments or remove it here",
                    )
            yield from _action_needs(rb, (*loc, "actions", a), action, action.environments or step.environments)


def _staging_first(rb: Runbook) -> Iterator[Finding]:
    """The guard holds a production run until the step's non-production runs are done; both must exist."""
    staging = [env.name for env in rb.environments if not env.production]
    for loc, step in steps_with_locs(rb):
        envs = [rb.environment(name) for name in step.environments]
        if not step.staging_first or None in envs:  # an unknown environment is reported on its own
            continue
        listed = ", ".join(step.environments)
        if not any(env is not None and env.production for env in envs):
            yield Finding(
                (*loc, "staging_first"),
                f"staging_first only holds back a production run, but none of step {step.id}'s environments "
                f"({listed}) is marked production: true; mark the production environment or remove staging_first",
            )
        elif not staging:
            yield Finding(
                (*loc, "staging_first"),
                f"staging_first is set, but the runbook has no staging environment (one without production: true) "
                f"for step {step.id} to run in first; add one to environments and to the step, or remove staging_first",
            )
        elif not any(env is not None and not env.production for env in envs):
            yield Finding(
                (*loc, "staging_first"),
                f"staging_first is set, but step {step.id} runs only in {listed}; "
                f"add {' or '.join(staging)} to its environments, or remove staging_first",
            )


def _action_needs(rb: Runbook, loc: Loc, action: object, env_names: list[str]) -> Iterator[Finding]:
    """sql.* actions need the environment's database; relative http paths need its base_url."""
    for name in env_names:
        env = rb.environment(name)
        if env is None:
            continue
        if isinstance(action, SqlQuery | SqlExecute | SqlBenchmark) and env.database is None:
            yield Finding(loc, f"{action.kind} runs in '{name}', which has no database; set its database")
        relative = isinstance(action, HttpSmoke | HttpLoad) and not action.path.startswith(("http://", "https://"))
        if relative and env.base_url is None:
            yield Finding(loc, f"the path is relative but environment '{name}' has no base_url; set it")


def _services_and_instances(rb: Runbook) -> Iterator[Finding]:
    services = [svc.name for svc in rb.services]
    instances = [sql.name for sql in rb.sql_instances]
    created = [a.instance for _, s in steps_with_locs(rb) for a in s.actions if isinstance(a, CloudSqlReplica)]
    for loc, step in steps_with_locs(rb):
        for a, action in enumerate(step.actions):
            at: Loc = (*loc, "actions", a)
            yield from _instances_named(at, action, instances, [*instances, *created])
            name = getattr(action, "service", None)
            if not isinstance(name, str):
                continue
            service = rb.service(name)
            if service is None:
                yield Finding((*at, "service"), _unknown("service", name, services))
                continue
            regions = getattr(action, "regions", "all")
            for r, region in enumerate(regions if isinstance(regions, list) else []):
                if region not in service.regions:
                    yield Finding(
                        (*at, "regions", r),
                        f"region '{region}' is not one of {name}'s regions ({', '.join(service.regions)})"
                        f"{did_you_mean(region, service.regions, n=1)}",
                    )


def _instances_named(at: Loc, action: object, existing: list[str], known: list[str]) -> Iterator[Finding]:
    """Cloud SQL names: a tier change or a master must exist before the rollout; the others may be a replica
    the runbook creates."""
    fields: list[tuple[str, list[str]]] = []
    if isinstance(action, CloudSqlTier):
        fields = [("instance", existing)]
    elif isinstance(action, CloudSqlReplica):
        fields = [("master", existing)]
    elif isinstance(action, CloudSqlPromote):
        fields = [("instance", known), ("standby", existing)]
    elif isinstance(action, CloudSqlDelete):
        fields = [("instance", known), ("after_promotion_of", known)]
    for field, names in fields:
        value = getattr(action, field)
        if value not in names:
            yield Finding((*at, field), _unknown("Cloud SQL instance", value, names))


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
            yield Finding(loc, _unknown("time zone", zone, available_timezones()) + " (use an IANA name)")


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
