"""What the simulated team enters when a manual action asks for a value: what they would measure.

A number is read from the metric the action names (the same source the bot watches), over the
last few minutes of the lane's environment, as the person running the benchmark would see it;
a link points at the team's notes for the step. An action asking for a number without naming a
metric cannot be measured here: the runner says so instead of inventing a value.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.engine.evidence import shown
from bot.engine.ports import MetricsSource
from bot.runbook.models import Manual, Runbook, Step

LOOK_BACK = timedelta(minutes=5)
NOTES = "https://wiki.ion-mentoring.dev"


async def measured(
    metrics: MetricsSource, runbook: Runbook, step: Step, spec: Manual, environment: str, now: datetime
) -> str | None:
    """The value as typed after ``/ion done``; "" when none is asked, None when it cannot be measured."""
    value = spec.value
    if value is None:
        return ""
    if value.unit == "link":
        return f"{NOTES}/{runbook.id}/{step.id}-{spec.id or 'evidence'}"
    metric = runbook.metric(value.metric) if value.metric else None
    env = runbook.environment(environment)
    if metric is None or env is None:
        return None
    series = await metrics.read(metric, env, now - LOOK_BACK, now)
    if not series.points:
        return None
    number = series.points[-1].value
    if value.from_baseline:
        number -= metric.baseline or 0.0
    return shown(round(number, 2), value.unit)
