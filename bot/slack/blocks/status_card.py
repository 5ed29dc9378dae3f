"""The run at a glance: ``/ion status``, ``/ion today`` and the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.views import View

from bot.slack.blocks.kit import Message, clock, context, divider, header, number, section, state_badge
from bot.slack.blocks.limits import Block
from bot.slack.blocks.mrkdwn import escape_inline
from bot.slack.blocks.views import HomeView, MetricLineView, StatusCardView, StepLineView

_RUN_STATE = {
    "active": ":large_green_circle: active",
    "held": ":octagonal_sign: held",
    "paused": ":double_vertical_bar: paused",
    "finished": ":checkered_flag: finished",
    "abandoned": ":wastebasket: abandoned",
}


MAX_OVERDUE = 15  # a section's text has room for this many lines with their titles


def _step_line(line: StepLineView) -> str:
    window = f" `{line.window}`" if line.window else ""
    lanes = " · ".join(f"{escape_inline(lane.environment)} {state_badge(lane.state)}" for lane in line.lanes)
    return f"*{escape_inline(line.step_id)}*{window} {escape_inline(line.title)}" + (f"\n    {lanes}" if lanes else "")


def _status_blocks(view: StatusCardView, title: str) -> list[Block]:
    blocks = [header(title, view.meta.dry_run)]
    facts = [_RUN_STATE.get(view.run_state, escape_inline(view.run_state))]
    if view.day is not None:
        facts.append(f"day {view.day}" + (f": {escape_inline(view.day_title)}" if view.day_title else ""))
    if view.on_date:
        facts.append(f"{view.on_date:%a %d %b}")
    if view.open_alerts:
        facts.append(f":rotating_light: {view.open_alerts} open alert{'s' if view.open_alerts != 1 else ''}")
    blocks.append(context(" · ".join(facts)))
    if view.reason:
        blocks.append(section(f"*Why {escape_inline(view.run_state)}:* {escape_inline(view.reason)}"))
    if view.gates:
        icons = {"yes": ":large_green_circle: YES", "no": ":red_circle: NO", None: ":hourglass: undecided"}
        lines = [f"{icons.get(g.decision, g.decision)} *{escape_inline(g.title)}* ({g.gate_id})" for g in view.gates]
        blocks.append(section("*Gates*\n" + "\n".join(lines)))
    if view.overdue:
        tz = view.meta.timezone
        lines = [
            f":alarm_clock: *{escape_inline(o.item_id)}* {escape_inline(o.title)}: due {clock(o.due, tz)}"
            + (f", {escape_inline(o.states)}" if o.states else "")
            for o in view.overdue[:MAX_OVERDUE]
        ]
        if len(view.overdue) > MAX_OVERDUE:
            lines.append(f"and {len(view.overdue) - MAX_OVERDUE} more")
        blocks.append(section(f"*Overdue ({len(view.overdue)})*\n" + "\n".join(lines)))
    if view.steps:
        blocks.append(section("*Steps*\n" + "\n".join(_step_line(s) for s in view.steps)))
    else:
        blocks.append(section("No steps scheduled."))
    if view.next_step:
        blocks.append(context(f"Next: `/ion step {escape_inline(view.next_step)}`"))
    return blocks


def status_card(view: StatusCardView) -> Message:
    """``/ion status``: the whole run."""
    title = view.runbook_title
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    return Message(f"{prefix}Status: {title}", _status_blocks(view, f"Status · {title}"))


def today_card(view: StatusCardView) -> Message:
    """``/ion today``: the day's steps (fill ``steps`` with today's only)."""
    label = f"Day {view.day}" if view.day is not None else "Today"
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    return Message(f"{prefix}{label}: {view.runbook_title}", _status_blocks(view, f"{label} · {view.runbook_title}"))


def metric_line(metric: MetricLineView) -> str:
    """'Cache hit rate: 79 % (baseline 82 %, target 75 %) ✅' — the mark says whether the target is met."""
    met: bool | None = None
    if metric.value is not None and metric.target is not None:
        met = metric.value <= metric.target if metric.better == "lower" else metric.value >= metric.target
    mark = "" if met is None else (" :white_check_mark:" if met else " :warning:")
    extra = []
    if metric.baseline is not None:
        extra.append(f"baseline {number(metric.baseline, metric.unit)}")
    if metric.target is not None:
        extra.append(f"target {number(metric.target, metric.unit)}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"*{escape_inline(metric.title)}:* {number(metric.value, metric.unit)}{tail}{mark}"


def home_view(view: HomeView) -> dict[str, Any]:
    """The App Home tab (``views.publish`` payload)."""
    blocks: list[Block]
    if view.active is None:
        blocks = [
            header("ION rollout bot", view.dry_run),
            section("No run is active. Start one with `/ion start RUNBOOK [DATE]`."),
        ]
    else:
        blocks = _status_blocks(view.active, f"Active run · {view.active.runbook_title}")
    blocks.append(divider())
    if view.alerts:
        lines = [
            f":rotating_light: *{escape_inline(a.title)}* ({escape_inline(a.state)})"
            + (f" since {clock(a.opened_at, view.timezone)}" if a.opened_at else "")
            for a in view.alerts
        ]
        blocks.append(section("*Open alerts*\n" + "\n".join(lines)))
    else:
        blocks.append(section("*Open alerts*\nNone."))
    if view.metrics:
        blocks.append(section("*Metrics against baseline and target*\n" + "\n".join(map(metric_line, view.metrics))))
    if view.delegations:
        blocks.append(section("*Delegated roles*\n" + "\n".join(f"- {escape_inline(d)}" for d in view.delegations)))
    payload: dict[str, Any] = View(type="home", blocks=blocks[:100]).to_dict()
    return payload
