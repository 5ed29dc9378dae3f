"""The step card's manual work and timed checklists, from the engine's StepView (no I/O)."""

from __future__ import annotations

from bot.engine import manual
from bot.engine.checklist import moment
from bot.engine.records import StepState, TargetStatus
from bot.engine.views import StepView
from bot.runbook.models import STEP_LANE, Runbook
from bot.slack.blocks.kit import clock
from bot.slack.blocks.views import ListView, ManualView


def manual_views(view: StepView, runbook: Runbook) -> tuple[ManualView, ...]:
    """Each manual action with, per lane, its Done (or failing values) from that lane's execution."""
    tz = runbook.calendar.timezone
    found: list[ManualView] = []
    for item in manual.items(view.step):
        lines: list[str] = []
        waiting: list[str] = []
        for lane in view.lanes:
            env = lane.lane.environment
            if not item.runs_in(env):
                continue
            record = next((r for r in lane.targets if r.action_index == item.index), None)
            for entry in manual.entries(record):
                value = f" {entry.text}" if entry.text else ""
                verdict = "done" if entry.passed else "not accepted"
                lines.append(f"{env}: {verdict} by {entry.name} at {clock(entry.at, tz)}{value} ({entry.detail})")
            stopped = record is not None and record.status is TargetStatus.SNAPSHOTTED
            if lane.lane.state is StepState.WAITING and stopped:
                waiting.append(env)
        found.append(
            ManualView(
                number=item.number,
                ref=item.ref,
                title=item.title,
                for_whom=manual.for_whom(runbook, item.spec),
                asks=manual.asks(item),
                usage=item.usage(),
                lines=tuple(lines),
                waiting_in=tuple(waiting),
            )
        )
    return tuple(found)


def list_views(view: StepView) -> tuple[ListView, ...]:
    """The step's lists with when each is due; a step with one plain list for the whole step needs none."""
    groups = view.step.checklist_groups()
    if len(groups) == 1 and groups[0].after is None and groups[0].lane == STEP_LANE:
        return ()
    lists: list[ListView] = []
    for index, group in enumerate(groups):
        due = view.due[index] if index < len(view.due) else None
        where = "" if group.lane == STEP_LANE else group.lane
        when = ("due when " if group.wait is None else "due ") + moment(group) if group.after else ""
        lists.append(
            ListView(
                title=group.title,
                item_ids=tuple(i.id for i in group.items),
                moment=" · ".join(part for part in (where, when) if part),
                due_at=due.at if due else None,
                landed=group.after is None or bool(due and due.landed is not None),
                due_now=due.is_due(view.read_at) if due is not None and view.read_at is not None else True,
            )
        )
    return tuple(lists)
