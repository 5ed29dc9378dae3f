"""From the engine's read models (StepView, StatusView, GateView, alerts) to the card views.

The Slack app's half of the adapter (from_engine.py holds the plan halves): one function per
card, no I/O, so the handlers and the notifier render the same card the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.engine.gates import GateView
from bot.engine.permissions import DEMO_TEAM
from bot.engine.plan import Plan
from bot.engine.ports import AlertRecord
from bot.engine.records import Run
from bot.engine.triggers import PAUSED_AT, is_step_trigger, trigger_of
from bot.engine.views import StatusView, StepView
from bot.runbook.models import Runbook
from bot.slack.blocks.from_engine import plan_view
from bot.slack.blocks.manual_views import list_views, manual_views
from bot.slack.blocks.mrkdwn import escape_inline
from bot.slack.blocks.views import (
    AlertCardView,
    AlertLineView,
    ApprovalView,
    CardMeta,
    CheckView,
    CountedView,
    GateCardView,
    GateLineView,
    LaneView,
    LatestStepView,
    OverdueView,
    SignoffView,
    StatusCardView,
    StepCardView,
    StepLineView,
    TickView,
)


def version_of(parts: Iterable[object]) -> int:
    """A small stable number for "the state this card shows"; a click carrying another one is stale."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:7], 16)


def step_version(view: StepView) -> int:
    return version_of(
        (lane.lane.environment, lane.lane.state.value, lane.lane.last_execution_id) for lane in view.lanes
    )


def gate_version(view: GateView) -> int:
    """The stored record's own version too: a NO, reopened and decided NO again, is not the card of
    the first NO (the decision alone would look the same)."""
    return version_of((view.record.decision, view.record.version))


def meta(run: Run, runbook: Runbook, version: int, dry_run: bool) -> CardMeta:
    return CardMeta(run.id, version, dry_run or run.dry_run, runbook.calendar.timezone)


DEMO_NAMES: Mapping[str, str] = {m.user_id: m.name for m in DEMO_TEAM}


def name_of(user: str | None, names: Mapping[str, str]) -> str | None:
    """A person's name when it is known, so a card says "by dana", not "by U_DEV"; else as stored."""
    return names.get(user, user) if user else user


def step_card_view(
    view: StepView,
    plans: Sequence[Plan],
    runbook: Runbook,
    dry_run: bool,
    names: Mapping[str, str] = DEMO_NAMES,
) -> StepCardView:
    """``names`` maps user ids to names (the demo team by default); each approval brings its voter's."""
    known = {**names, **{a.user_id: a.name for lane in view.lanes for a in lane.approvals if a.name}}
    lanes = tuple(
        LaneView(
            lane.lane.environment,
            lane.lane.state.value,
            lane.lane.changed_at,
            name_of(lane.lane.changed_by, known),
            lane.lane.reason,
        )
        for lane in view.lanes
    )
    status = view.checklist
    ticks = [TickView(t.item_id, t.name, t.at) for t in status.ticks.values()]
    ticked = {t.item_id for t in ticks}
    for waiver in status.waivers:
        items = [waiver.item_id] if waiver.item_id else [i.id for i in status.items]
        ticks.extend(TickView(i, waiver.name, waiver.at, waiver.reason) for i in items if i not in ticked)
        ticked.update(items)
    approvals = tuple(
        ApprovalView(a.environment, a.name or a.user_id, a.at, a.decision, a.role, a.reason)
        for lane in view.lanes
        for a in lane.approvals
    )
    window = view.window
    return StepCardView(
        meta=meta(view.run, runbook, step_version(view), dry_run),
        step=view.step,
        lanes=lanes,
        ticks=tuple(ticks),
        approvals=approvals,
        plans=tuple(plan_view(p, view.step) for p in plans),
        on_date=window[0].astimezone(_zone(runbook)).date() if window else None,
        manual=manual_views(view, runbook),
        lists=list_views(view),
    )


def gate_card_view(
    view: GateView,
    run: Run,
    runbook: Runbook,
    dry_run: bool,
    names: Mapping[str, str] = DEMO_NAMES,
    links: Mapping[str, str] | None = None,
) -> GateCardView:
    """``links``: alert id -> the alert's message in Slack, for the things a check counted."""
    record = view.record
    found = links or {}
    checks = tuple(
        CheckView(
            h.label + (f" (overridden by {h.override_by}: {h.override_reason})" if h.override_reason else ""),
            h.passed,
            h.value,
            h.threshold,
            detail=h.detail.split(": ", 1)[0] if h.counted else h.detail,
            counted=tuple(CountedView(c.get("text", ""), found.get(c.get("alert", ""))) for c in h.counted),
        )
        for h in record.health
    )
    return GateCardView(
        meta=meta(run, runbook, gate_version(view), dry_run),
        gate=view.gate,
        checks=checks,
        ticks=tuple(TickView(t.item_id, t.name, t.at) for t in view.sections.ticks.values()),
        signoffs=tuple(SignoffView(s.role, s.name, s.at) for s in record.signoffs),
        decision=record.decision,
        decided_by=record.decided_by_name or name_of(record.decided_by, names),
        decided_at=record.decided_at,
        reason=record.reason,
        overrides=tuple(
            f"{h.label}: overridden by {h.override_by}: {h.override_reason}" for h in record.health if h.override_reason
        ),
    )


def status_card_view(
    view: StatusView, runbook: Runbook, dry_run: bool, open_alerts: int, today_only: bool
) -> StatusCardView:
    zone = _zone(runbook)
    day = view.position.day
    steps = [s for s in view.steps if not today_only or s.day == day]
    lines = tuple(
        StepLineView(
            s.step_id,
            s.title,
            f"{s.window[0].astimezone(zone):%H:%M}-{s.window[1].astimezone(zone):%H:%M}" if s.window else "",
            tuple(LaneView(env, state.value) for env, state in s.states.items()),
        )
        for s in steps
    )
    gates = tuple(
        GateLineView(g.id, g.title, view.gates.get(g.id)) for g in runbook.gates if not today_only or g.day == day
    )
    day_model = runbook.day(day) if day is not None else None
    next_step = view.position.next_step
    summaries = {s.step_id: s for s in view.steps}
    overdue = [
        OverdueView(
            o.step.id,
            o.step.title,
            o.ends,
            ", ".join(
                f"{env} {state.value}"
                for env, state in (summaries[o.step.id].states.items() if o.step.id in summaries else ())
            ),
        )
        for o in view.position.overdue
        if o.ends is not None
    ]
    overdue += [OverdueView(g.id, g.title, due, "undecided") for g, due in view.overdue_gates]
    return StatusCardView(
        meta=meta(view.run, runbook, 0, dry_run),
        runbook_title=runbook.title,
        run_state=view.run.state.value,
        day=day,
        day_title=day_model.title if day_model else None,
        on_date=view.position.local_date,
        steps=lines,
        gates=gates,
        open_alerts=open_alerts,
        next_step=next_step.step.id if next_step else None,
        reason=view.run.reason,
        overdue=tuple(sorted(overdue, key=lambda o: o.due)),
    )


def alert_card_view(
    alert: AlertRecord, run: Run, runbook: Runbook, dry_run: bool, oncall_group: str | None
) -> AlertCardView:
    trigger = trigger_of(runbook, alert.trigger_id)  # a step's rollback_if too
    metric = runbook.metric(trigger.condition.metric) if trigger else None
    step = runbook.step(alert.step_id) if alert.step_id else None
    held = alert.data.get("held_for_seconds")
    latest = None
    if step is not None:
        env = next((e.name for e in runbook.environments if e.production), step.environments[-1])
        latest = LatestStepView(step.id, step.title, alert.environment or env)
    return AlertCardView(
        meta=meta(run, runbook, version_of((alert.state,)), dry_run),
        alert_id=alert.id,
        # An incident's title is what a person typed: escaped, since builders put it in the notification text.
        title=trigger.title if trigger and alert.kind != "incident" else escape_inline(alert.message),
        condition=str(trigger.condition) if trigger else alert.trigger_id,
        kind=alert.kind,
        state=alert.state,
        value=alert.value,
        threshold=alert.threshold,
        unit=metric.unit if metric else "",
        held_for=timedelta(seconds=float(held)) if isinstance(held, int | float) else None,
        opened_at=alert.opened_at,
        environment=alert.environment or (trigger.environment if trigger else "production"),
        latest_step=latest,
        oncall_group=oncall_group,
        acknowledged_by=alert.acknowledged_by,
        auto_rollback_at=alert.auto_rollback_at,
        auto_rollback_paused=PAUSED_AT in alert.data,
        step_condition=is_step_trigger(alert.trigger_id),
    )


def alert_line(alert: AlertRecord, runbook: Runbook) -> AlertLineView:
    trigger = trigger_of(runbook, alert.trigger_id)
    return AlertLineView(alert.id, trigger.title if trigger else alert.message, alert.state, alert.opened_at)


def _zone(runbook: Runbook) -> ZoneInfo:
    return ZoneInfo(runbook.calendar.timezone)
