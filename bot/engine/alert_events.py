"""What the channel is told when an alert changes: one Event per kind of change, with its sentence."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.engine.ports import JSON, AlertRecord, Event
from bot.engine.triggers import LEFT_SECONDS, PAUSED_AT, AlertChange, is_step_trigger
from bot.runbook.durations import format_duration

ONCALL_ROLE = "sre_oncall"
PAUSED_NOTE = "Auto-rollback paused with the run; press Roll back to do it now."


def event_for(change: AlertChange, channel: str, zone: ZoneInfo) -> Event | None:
    """The event announcing ``change``; None for changes nobody is told about (still breaching...)."""
    alert, kind = change.alert, change.kind
    step = alert.step_id or "the latest production step"
    if kind in ("opened", "incident_declared"):
        return _opened(alert, channel, zone, step)
    if kind == "no_data_opened":
        return Event("no_data", alert.run_id, channel, alert.message, alert.step_id, _base(alert))
    if kind in ("resolved", "no_data_resolved", "resolved_by_person"):
        return _resolved(alert, channel)
    return _auto_rollback(change, channel, zone, step)


def _base(alert: AlertRecord) -> dict[str, JSON]:
    return {
        "alert_id": alert.id,
        "trigger_id": alert.trigger_id,
        "alert_kind": alert.kind,
        "value": alert.value,
        "threshold": alert.threshold,
        "step_id": alert.step_id,
        "environment": alert.environment,
    }


def _opened(alert: AlertRecord, channel: str, zone: ZoneInfo, step: str) -> Event:
    """An alert opened: what fired, and whether (and when) its automatic rollback starts."""
    when = alert.auto_rollback_at
    paused = PAUSED_AT in alert.data
    if when:
        auto = f" Automatic rollback of {step} at {when.astimezone(zone):%H:%M %Z} unless someone holds it."
    elif paused:
        auto = f" {PAUSED_NOTE}"
    elif is_step_trigger(alert.trigger_id):
        auto = f" A rollback condition of {step} itself: press Roll back to roll {step} back (not automatic)."
    else:
        auto = ""
    data = {
        **_base(alert),
        "held_for_seconds": alert.data.get("held_for_seconds"),
        "auto_rollback_at": when.isoformat() if when else None,
        "auto_rollback_paused": paused,
        "mention_role": ONCALL_ROLE,
        "buttons": ["rollback", "acknowledge", "hold"],
    }
    return Event("alert_opened", alert.run_id, channel, alert.message + auto, alert.step_id, data)


def _resolved(alert: AlertRecord, channel: str) -> Event:
    opened_for = (
        format_duration(max(alert.resolved_at - alert.opened_at, timedelta(seconds=1)))
        if (alert.resolved_at)
        else "a while"
    )
    what = "No-data alert" if alert.kind == "no_data" else "Alert"
    text = f"{what} for {alert.trigger_id} resolved after {opened_for}: {alert.message}"
    return Event("alert_resolved", alert.run_id, channel, text, alert.step_id, _base(alert))


def _auto_rollback(change: AlertChange, channel: str, zone: ZoneInfo, step: str) -> Event | None:
    """The automatic rollback's countdown paused or resumed with the run, started, finished."""
    alert, kind, base = change.alert, change.kind, _base(change.alert)
    if kind == "auto_rollback_paused":
        left = format_duration(timedelta(seconds=float(alert.data.get(LEFT_SECONDS) or 0)))
        text = f"{alert.message} {PAUSED_NOTE} It starts {left} after the run resumes, unless someone holds it."
        return Event("auto_rollback_paused", alert.run_id, channel, text, alert.step_id, base)
    if kind == "auto_rollback_resumed" and alert.auto_rollback_at is not None:
        when = alert.auto_rollback_at
        text = (
            f"The run is active again: automatic rollback of {step} at {when.astimezone(zone):%H:%M %Z} unless someone "
            f"holds it. {alert.message}"
        )
        return Event("auto_rollback_resumed", alert.run_id, channel, text, alert.step_id, base)
    if kind == "auto_rollback_started":
        text = f"Starting the automatic rollback of {step}: {alert.message}"
        return Event("auto_rollback_pending", alert.run_id, channel, text, alert.step_id, base)
    if kind == "auto_rollback_finished":
        data = {**base, "auto": True, "ok": alert.data.get("auto_rollback_ok")}
        text = str(alert.data.get("auto_rollback_result", ""))
        return Event("rollback_finished", alert.run_id, channel, text, alert.step_id, data)
    return None
