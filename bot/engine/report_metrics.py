"""How the metrics moved: one line per performance target (then any other reading), met or not met.

A metric without a value is "no data" (status unknown), never healthy.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.report_model import MetricLine, MetricReading, MetricStatus
from bot.runbook.models import Runbook


def metric_lines(runbook: Runbook, readings: Sequence[MetricReading]) -> tuple[MetricLine, ...]:
    """One line per performance target, then any other reading given; baselines default to the targets'."""
    by_id = {r.metric_id: r for r in readings}
    lines: list[MetricLine] = []
    for target in runbook.targets.performance:
        reading = by_id.pop(target.metric, None)
        metric = runbook.metric(target.metric)
        unit = reading.unit if reading else metric.unit if metric else ""
        baseline: float | None = reading.baseline if reading and reading.baseline is not None else target.current
        now = reading.now if reading else None
        lines.append(_line(runbook, target.metric, target.label, unit, baseline, now, target.target))
    for reading in by_id.values():
        metric = runbook.metric(reading.metric_id)
        label = metric.title if metric else reading.metric_id
        other_baseline = reading.baseline if reading.baseline is not None else metric.baseline if metric else None
        target_value = reading.target if reading.target is not None else metric.target if metric else None
        lines.append(_line(runbook, reading.metric_id, label, reading.unit, other_baseline, reading.now, target_value))
    return tuple(lines)


def _line(
    runbook: Runbook,
    metric_id: str,
    label: str,
    unit: str,
    baseline: float | None,
    now: float | None,
    target: float | None,
) -> MetricLine:
    return MetricLine(
        metric_id,
        label,
        unit,
        baseline,
        now,
        target,
        metric_status(runbook, metric_id, baseline, now, target),
    )


def metric_status(
    runbook: Runbook, metric_id: str, baseline: float | None, now: float | None, target: float | None
) -> MetricStatus:
    """met / not met against the target in the metric's better direction; unknown without a value."""
    if now is None or target is None:
        return "unknown"
    metric = runbook.metric(metric_id)
    if metric is not None:
        higher = metric.better == "higher"
    elif baseline is not None and baseline != target:
        higher = target > baseline
    else:
        return "unknown"
    return "met" if (now >= target if higher else now <= target) else "not met"
