"""Everything a person did or the bot noticed, as marks on the run's axis.

Each mark comes from the record that is the authority for it (approvals from the approvals,
ticks from the ticks, alerts from the alert history, holds from the audit), never re-derived.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.engine.audit_kinds import AuditKind
from bot.engine.ports import AlertRecord
from bot.engine.records import Approval, AuditEntry, ChecklistTick, Execution, GateRecord, Incident, StepLane
from bot.engine.timeline_model import Axis, LaneBar, Mark

OPEN_EXECUTION_STATES = frozenset({"running", "waiting", "verifying"})


def lane_bars(axis: Axis, lanes: Sequence[StepLane], executions: Sequence[Execution], now: datetime) -> list[LaneBar]:
    """A bar per lane that ran: from its first execution's start to its last execution's end."""
    by_lane: dict[tuple[str, str], list[Execution]] = {}
    for execution in executions:
        by_lane.setdefault((execution.step_id, execution.environment), []).append(execution)
    bars = []
    for lane in lanes:
        ran = by_lane.get((lane.step_id, lane.environment))
        if not ran:
            continue
        start = min(e.started_at for e in ran)
        open_ended = any(e.state.value in OPEN_EXECUTION_STATES for e in ran)
        ends = [e.finished_at for e in ran if e.finished_at is not None]
        end = now if open_ended or not ends else max(ends)
        bars.append(
            LaneBar(
                step_id=lane.step_id,
                environment=lane.environment,
                state=lane.state.value,
                start=start,
                end=max(end, start),
                left=axis.x(start),
                width=axis.width(start, max(end, start)),
                by=lane.changed_by,
                open_ended=open_ended,
            )
        )
    return bars


def approval_marks(axis: Axis, approvals: Iterable[Approval]) -> list[Mark]:
    marks = []
    for vote in approvals:
        kind = "approval" if vote.decision == "approved" else "rejection"
        text = f"{vote.decision} ({vote.role})"
        if vote.reason:
            text += f": {vote.reason}"
        if vote.withdrawn_at is not None:
            text += f"; withdrawn ({vote.withdrawn_reason or 'no reason given'})"
        marks.append(Mark(kind, vote.at, axis.x(vote.at), vote.name, text, vote.step_id, vote.environment))
    return marks


def tick_marks(axis: Axis, ticks: Iterable[ChecklistTick], texts: dict[str, str]) -> list[Mark]:
    return [
        Mark("tick", t.at, axis.x(t.at), t.name, f"ticked {texts.get(t.item_id, t.item_id)}", t.scope) for t in ticks
    ]


def rollback_marks(axis: Axis, executions: Iterable[Execution], names: dict[str, str]) -> list[Mark]:
    marks = []
    for e in executions:
        if e.kind != "rollback":
            continue
        who = names.get(e.requested_by, e.requested_by)
        text = f"rollback of {e.environment} {e.state.value}" + (f": {e.message}" if e.message else "")
        marks.append(Mark("rollback", e.started_at, axis.x(e.started_at), who, text, e.step_id, e.environment))
    return marks


def alert_marks(axis: Axis, alerts: Iterable[AlertRecord], now: datetime) -> list[Mark]:
    marks = []
    for alert in alerts:
        until = alert.resolved_at or now
        text = f"{alert.kind} {alert.trigger_id}: {alert.message} ({alert.state})"
        who = alert.acknowledged_by or "ionbot"
        marks.append(
            Mark(
                "alert",
                alert.opened_at,
                axis.x(alert.opened_at),
                who,
                text,
                alert.step_id,
                alert.environment,
                until,
                axis.width(alert.opened_at, until),
            )
        )
    return marks


def hold_marks(axis: Axis, audit: Sequence[AuditEntry], now: datetime) -> list[Mark]:
    """Holds and pauses of the whole run, from the audit's run-state entries, each until it was lifted."""
    marks = []
    opened: AuditEntry | None = None
    for entry in audit:
        if entry.kind is not AuditKind.RUN_STATE or entry.outcome != "ok":
            continue
        if entry.after in ("held", "paused") and opened is None:
            opened = entry
        elif opened is not None and entry.after not in ("held", "paused"):
            marks.append(_hold(axis, opened, entry.at))
            opened = None
    if opened is not None:
        marks.append(_hold(axis, opened, now))
    return marks


def _hold(axis: Axis, entry: AuditEntry, until: datetime) -> Mark:
    text = f"run {entry.after}" + (f": {entry.detail}" if entry.detail else "")
    return Mark(
        "hold", entry.at, axis.x(entry.at), entry.actor_name, text, None, None, until, axis.width(entry.at, until)
    )


def incident_marks(axis: Axis, incidents: Iterable[Incident]) -> list[Mark]:
    return [Mark("incident", i.at, axis.x(i.at), i.opened_by_name, f"incident: {i.text}", i.step_id) for i in incidents]


def decision_marks(axis: Axis, record: GateRecord) -> list[Mark]:
    """The sign-offs and the decision of one gate."""
    marks = [
        Mark("signoff", s.at, axis.x(s.at), s.name, f"signed off {record.gate_id} as {s.role}", record.gate_id)
        for s in record.signoffs
    ]
    if record.decided_at is not None and record.decision is not None:
        text = f"{record.gate_id}: {record.decision.upper()}" + (f" ({record.reason})" if record.reason else "")
        who = record.decided_by_name or record.decided_by or "?"
        marks.append(Mark("decision", record.decided_at, axis.x(record.decided_at), who, text, record.gate_id))
    return marks
