"""The data of every scheduled report: what was done, how the metrics moved, what blocks, what is next.

Pure: the lead reads the store and the metrics checker and hands over the small input
records of bot/engine/report_model.py (re-exported here); nothing here touches Slack,
the database or the clock. Rendering is bot/reports. A metric without a value is
"no data" (status unknown), never healthy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from bot.engine.cost_ledger import CostEntry, CostLedger, LaneEvent
from bot.engine.report_metrics import metric_lines, metric_status
from bot.engine.report_model import (
    CompletedStep,
    DailyReport,
    DayPlan,
    Decision,
    FinalReport,
    GateDecision,
    Issue,
    IssueKind,
    MetricLine,
    MetricReading,
    MetricStatus,
    OpenAlert,
    PendingApproval,
    PhaseSummary,
    PlannedGate,
    PlannedStep,
    QualityLine,
    QualityReading,
    ReportExtras,
    StandupDigest,
    StepOutcome,
    UntickedItem,
)
from bot.runbook.models import Gate, Runbook

__all__ = [
    "CostEntry",
    "CostLedger",
    "DailyReport",
    "FinalReport",
    "GateDecision",
    "LaneEvent",
    "MetricReading",
    "OpenAlert",
    "PendingApproval",
    "PhaseSummary",
    "QualityReading",
    "ReportExtras",
    "StandupDigest",
    "StepOutcome",
    "UntickedItem",
    "daily_report",
    "final_report",
    "metric_lines",
    "metric_status",
    "phase_summary",
    "standup_digest",
    "week_label",
]


# --- builders ----------------------------------------------------------------------------------


def daily_report(
    runbook: Runbook,
    day: int,
    outcomes: Sequence[StepOutcome],
    metrics: Sequence[MetricReading],
    alerts: Sequence[OpenAlert],
    pending: Sequence[PendingApproval],
    unticked: Sequence[UntickedItem],
    ledger: CostLedger,
    late: bool = False,
    extras: ReportExtras = ReportExtras(),
) -> DailyReport:
    """The 5 PM report of ``day``; ``outcomes`` are the lanes that changed state that day. It leads
    with the day's objective and its steps' own conditions (``extras.step_metrics``)."""
    plan = runbook.day(day)
    return DailyReport(
        title=_titled(f"{week_label(runbook)} Day {day} Report", extras),
        day=day,
        late=late,
        completed=completed_steps(runbook, outcomes),
        metrics=_windowed(metric_lines(runbook, metrics), extras),
        cost=ledger,
        issues=_explained(issues(runbook, outcomes, alerts, pending, unticked), extras),
        next_day=day_plan(runbook, day + 1),
        objective=plan.objective if plan else None,
        day_title=plan.title if plan else None,
        decisions=decided_on(runbook, day, extras.decisions),
        step_metrics=extras.step_metrics,
        rehearsed=completed_steps(runbook, outcomes, rehearsed=True),
        scaling=extras.scaling,
        dry_run=extras.dry_run,
        blocked=extras.blocked,
    )


def standup_digest(
    runbook: Runbook,
    day: int,
    standup: str,
    yesterday: Sequence[StepOutcome],
    metrics: Sequence[MetricReading],
    alerts: Sequence[OpenAlert],
    pending: Sequence[PendingApproval],
    unticked: Sequence[UntickedItem],
    ledger: CostLedger,
    late: bool = False,
    extras: ReportExtras = ReportExtras(),
) -> StandupDigest:
    """The standup's four agenda answers; ``yesterday`` are the lanes that changed on the previous run day.
    ``extras.plan_states`` marks today's steps already done (a standup is never stale)."""
    return StandupDigest(
        title=_titled(f"{week_label(runbook)} Day {day} Standup ({standup})", extras),
        standup=standup,
        day=day,
        late=late,
        completed_yesterday=completed_steps(runbook, yesterday),
        today=day_plan(runbook, day, extras.plan_states),
        blockers=_explained(issues(runbook, yesterday, alerts, pending, unticked), extras),
        metrics=_windowed(metric_lines(runbook, metrics), extras),
        cost=ledger,
        agenda=tuple(runbook.schedule.standup_agenda),
        dry_run=extras.dry_run,
    )


def phase_summary(
    runbook: Runbook,
    day: int,
    outcomes: Sequence[StepOutcome],
    metrics: Sequence[MetricReading],
    alerts: Sequence[OpenAlert],
    pending: Sequence[PendingApproval],
    unticked: Sequence[UntickedItem],
    ledger: CostLedger,
    decisions: Sequence[GateDecision],
    quality: Sequence[QualityReading] = (),
    late: bool = False,
    extras: ReportExtras = ReportExtras(),
) -> PhaseSummary:
    """The summary of the phase that ends on ``day`` (the seed's Day 1-5 report); outcomes span the phase."""
    phase = next((p for p in runbook.phases if p.first_day <= day <= p.last_day), None)
    first, last = (phase.first_day, phase.last_day) if phase else (1, day)
    following = next((p for p in runbook.phases if p.first_day == last + 1), None)
    name = phase.name if phase else f"Days {first}-{last}"
    return PhaseSummary(
        title=_titled(f"{week_label(runbook)} {name} Summary (Days {first}-{last})", extras),
        phase=name,
        first_day=first,
        last_day=last,
        day=day,
        late=late,
        completed=completed_steps(runbook, outcomes),
        metrics=_windowed(metric_lines(runbook, metrics), extras),
        cost=ledger,
        quality=quality_lines(runbook, quality),
        issues=_explained(issues(runbook, outcomes, alerts, pending, unticked), extras),
        decision=decision_for(runbook, day, decisions),
        next_phase=following.name if following else None,
        next_day=day_plan(runbook, day + 1),
        changes=extras.changes,
        blocked=extras.blocked,
        rehearsed=completed_steps(runbook, outcomes, rehearsed=True),
        dry_run=extras.dry_run,
        expected_results=tuple(runbook.targets.expected_results),
        week=week_label(runbook),
    )


def final_report(
    runbook: Runbook,
    day: int,
    outcomes: Sequence[StepOutcome],
    metrics: Sequence[MetricReading],
    alerts: Sequence[OpenAlert],
    pending: Sequence[PendingApproval],
    unticked: Sequence[UntickedItem],
    ledger: CostLedger,
    decisions: Sequence[GateDecision],
    quality: Sequence[QualityReading],
    late: bool = False,
    extras: ReportExtras = ReportExtras(),
) -> FinalReport:
    """The end-of-rollout report against the success, cost and quality targets."""
    return FinalReport(
        title=_titled(f"{week_label(runbook)} Final Report", extras),
        day=day,
        late=late,
        completed=completed_steps(runbook, outcomes),
        metrics=_windowed(metric_lines(runbook, metrics), extras),
        cost=ledger,
        quality=quality_lines(runbook, quality),
        issues=_explained(issues(runbook, outcomes, alerts, pending, unticked), extras),
        decision=decision_for(runbook, day, decisions),
        expected_results=tuple(runbook.targets.expected_results),
        changes=extras.changes,
        blocked=extras.blocked,
        rehearsed=completed_steps(runbook, outcomes, rehearsed=True),
        dry_run=extras.dry_run,
        week=week_label(runbook),
    )


def _titled(title: str, extras: ReportExtras) -> str:
    """A dry run says so in the title of every report, where nobody can miss it."""
    return f"DRY RUN: {title}" if extras.dry_run else title


def _explained(found: tuple[Issue, ...], extras: ReportExtras) -> tuple[Issue, ...]:
    """A rolled-back step's issue carries why it was rolled back; a blocked step is listed once, as
    blocked, not also as waiting for its approval or its run."""
    reasons = dict(extras.reasons)
    blocked = {b.step_id for b in extras.blocked}
    return tuple(
        replace(i, why=reasons[i.ref]) if i.kind == "rolled_back" and i.ref in reasons else i
        for i in found
        if not (i.kind in ("approval", "ready") and i.ref in blocked)
    )


def _windowed(lines: tuple[MetricLine, ...], extras: ReportExtras) -> tuple[MetricLine, ...]:
    """Every metric row says which window its value is."""
    if not extras.window:
        return lines
    return tuple(replace(line, window=extras.window) for line in lines)


# --- parts ---------------------------------------------------------------------------------------


def quality_lines(runbook: Runbook, quality: Sequence[QualityReading]) -> tuple[QualityLine, ...]:
    """Every quality target of the runbook with its reading; one nobody checked is "unknown"."""
    checked = {q.label: q for q in quality}
    lines = []
    for target in runbook.targets.quality:
        reading = checked.get(target.label)
        if reading is None:
            lines.append(QualityLine(target.label, "unknown", "not checked"))
        else:
            status: MetricStatus = "unknown" if reading.passed is None else "met" if reading.passed else "not met"
            lines.append(QualityLine(target.label, status, reading.detail, reading.by, reading.at))
    return tuple(lines)


def week_label(runbook: Runbook) -> str:
    """ "Week 17" from ``week: 17`` or ``week: "17 (2025-10-25 - 2025-10-31)"``; the title when no week is given."""
    week = (runbook.week or "").strip()
    if not week:
        return runbook.title
    number = re.match(r"(?i)(?:week\s*)?(\d+)\b", week)
    return f"Week {number.group(1)}" if number else week


def completed_steps(
    runbook: Runbook, outcomes: Sequence[StepOutcome], rehearsed: bool = False
) -> tuple[CompletedStep, ...]:
    """Lanes done for real; with ``rehearsed``, the lanes done only in a dry run (nothing changed)."""
    zone = ZoneInfo(runbook.calendar.timezone)
    done = [o for o in outcomes if o.state == "done" and o.dry_run == rehearsed]
    done.sort(key=lambda o: (o.finished_at is None, o.finished_at or datetime.min.replace(tzinfo=zone), o.step_id))
    return tuple(
        CompletedStep(
            o.step_id,
            o.title,
            o.environment,
            o.by,
            o.finished_at.astimezone(zone) if o.finished_at else None,
        )
        for o in done
    )


def issues(
    runbook: Runbook,
    outcomes: Sequence[StepOutcome],
    alerts: Sequence[OpenAlert],
    pending: Sequence[PendingApproval],
    unticked: Sequence[UntickedItem],
) -> tuple[Issue, ...]:
    """Failed and rolled-back steps, open alerts, pending approvals, then unticked checklist items."""
    zone = ZoneInfo(runbook.calendar.timezone)
    found: list[Issue] = []
    for o in outcomes:
        if o.state in ("failed", "rolled_back"):
            kind: IssueKind = "failed" if o.state == "failed" else "rolled_back"
            at = o.finished_at.astimezone(zone) if o.finished_at else None
            found.append(Issue(kind, o.step_id, o.title, o.environment, at))
    for a in sorted(alerts, key=lambda a: a.opened_at):
        trigger = next((t for t in runbook.triggers if t.id == a.trigger_id), None)
        detail = trigger.title if trigger else a.kind
        found.append(Issue("alert", a.trigger_id, a.message, f"{detail}, {a.state}", a.opened_at.astimezone(zone)))
    for p in pending:
        if p.approved:
            found.append(Issue("ready", p.step_id, p.title, p.environment))
        else:
            found.append(Issue("approval", p.step_id, p.title, f"{p.environment}, needs {p.waiting_for}"))
    for u in unticked:
        found.append(Issue("unticked", u.step_id, u.text, u.item_id))
    return tuple(found)


def day_plan(runbook: Runbook, number: int, states: Sequence[tuple[str, str, bool]] = ()) -> DayPlan | None:
    """The runbook's plan for day ``number``; None past the last working day. ``states`` are
    (step id, state text, done) as they stand now, so a finished step is never shown as open."""
    if number > runbook.calendar.working_days:
        return None
    day = runbook.day(number)
    known = {step_id: (text, done) for step_id, text, done in states}
    gates = tuple(
        PlannedGate(g.id, g.title, _clock(g.at), *known.get(g.id, (None, False)))
        for g in runbook.gates
        if g.day == number
    )
    if day is None:
        return DayPlan(number, f"Day {number}", None, (), gates)
    steps = tuple(
        PlannedStep(
            s.id,
            s.title,
            f"{_clock(s.window.start)}-{_clock(s.window.end)}" if s.window else None,
            tuple(s.environments),
            known[s.id][0] if s.id in known else None,
            known[s.id][1] if s.id in known else False,
        )
        for s in day.steps
    )
    return DayPlan(number, day.title, day.objective, steps, gates)


def decision_for(runbook: Runbook, day: int, decisions: Sequence[GateDecision]) -> Decision | None:
    """The latest gate on or before ``day`` (day 3's for the phase summary, day 10's for the final)."""
    candidates = [g for g in runbook.gates if g.day <= day and g.id != "preflight"]
    if not candidates:
        return None
    gate: Gate = max(candidates, key=lambda g: (g.day, g.at))
    given = next((d for d in decisions if d.gate_id == gate.id), None)
    if given is None or given.decision not in ("yes", "no"):
        return Decision(gate.id, gate.title, "pending", "not decided yet", None, None)
    state: Literal["yes", "no"] = "yes" if given.decision == "yes" else "no"
    label = gate.yes_label if state == "yes" else gate.no_label
    return Decision(gate.id, gate.title, state, label, given.by, given.at, given.overrides)


def decided_on(runbook: Runbook, day: int, decisions: Sequence[GateDecision]) -> tuple[Decision, ...]:
    """The gates of ``day`` decided YES or NO, each with the health checks a person let pass and why."""
    found: list[Decision] = []
    for gate in sorted((g for g in runbook.gates if g.day == day), key=lambda g: g.at):
        given = next((d for d in decisions if d.gate_id == gate.id and d.decision in ("yes", "no")), None)
        if given is not None:
            yes = given.decision == "yes"
            label = gate.yes_label if yes else gate.no_label
            found.append(
                Decision(gate.id, gate.title, "yes" if yes else "no", label, given.by, given.at, given.overrides)
            )
    return tuple(found)


def _clock(value: time) -> str:
    return value.strftime("%H:%M")
