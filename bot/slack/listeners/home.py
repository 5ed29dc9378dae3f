"""The App Home tab: the most recent open run, today's steps, open alerts, metrics against targets."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog

from bot.engine.errors import Refused
from bot.slack.blocks import home_view
from bot.slack.blocks.from_views import alert_line, status_card_view
from bot.slack.blocks.views import HomeView, MetricLineView
from bot.slack.listeners import AppState
from bot.slack.listeners.oncall import delegated

log = structlog.get_logger(__name__)

READING_WINDOW = timedelta(minutes=10)


async def on_home_opened(state: AppState, event: dict[str, Any]) -> None:
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user", ""))
    try:
        view = await home(state)
        view = replace(view, delegations=await delegated(state))
    except Exception:  # the tab shows something simple rather than nothing
        log.exception("app home failed", user=user)
        view = HomeView(dry_run=state.dry_run)
    await state.outbox.client.views_publish(user_id=user, view=home_view(view))


async def home(state: AppState) -> HomeView:
    deps = state.deps
    runbook = deps.runbook
    runs = sorted(await deps.rollout.open_runs(), key=lambda r: r.created_at)
    if not runs:
        return HomeView(dry_run=state.dry_run, timezone=runbook.calendar.timezone, metrics=await metrics(state))
    run = runs[-1]
    alerts = await deps.alerts.active_alerts(run.id)
    try:
        status = await deps.rollout.status(run.channel)
    except Refused:
        return HomeView(dry_run=state.dry_run, timezone=runbook.calendar.timezone)
    active = status_card_view(status, runbook, state.dry_run, len(alerts), today_only=True)
    return HomeView(
        dry_run=state.dry_run or run.dry_run,
        timezone=runbook.calendar.timezone,
        active=active,
        alerts=tuple(alert_line(a, runbook) for a in alerts),
        metrics=await metrics(state),
    )


async def metrics(state: AppState) -> tuple[MetricLineView, ...]:
    """The latest reading of each monitored metric in production; an unreadable one shows no data."""
    deps = state.deps
    runbook = deps.runbook
    env = next((e for e in runbook.environments if e.production), runbook.environments[-1])
    now = deps.clock.now()
    lines = []
    for metric in runbook.metrics:
        if metric.source != "monitoring":
            continue
        value: float | None = None
        try:
            series = await deps.metrics.read(metric, env, now - READING_WINDOW, now)
            value = series.points[-1].value if series.points else None
        except Exception as exc:  # no data is shown as such, never as healthy
            log.warning("home metric unreadable", metric=metric.id, error=str(exc))
        lines.append(MetricLineView(metric.title, metric.unit, value, metric.baseline, metric.target, metric.better))
    return tuple(lines)
