"""The alert card: which trigger fired, by how much, for how long, the likely culprit, and what to do."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks.actions import ActionValue, Verb
from bot.slack.blocks.kit import (
    Confirm,
    Message,
    actions,
    button,
    clock,
    context,
    duration,
    header,
    number,
    section,
)
from bot.slack.blocks.limits import clamp
from bot.slack.blocks.mrkdwn import code, escape_inline, mention_group, who
from bot.slack.blocks.views import AlertCardView

TITLE_IN_TEXT = 300
_TITLES = {"breach": "Rollback trigger", "no_data": "No data", "incident": "Incident"}


def alert_card(view: AlertCardView) -> Message:
    tz = view.meta.timezone
    kind = _TITLES.get(view.kind, "Alert")
    blocks = [header(f":rotating_light: {kind}: {view.title}", view.meta.dry_run)]
    oncall = mention_group(view.oncall_group) if view.oncall_group else ""
    lines = [f"*Trigger:* {code(view.condition)} on *{escape_inline(view.environment)}*"]
    if view.kind == "breach":
        lines.append(f"*Value:* {number(view.value, view.unit)} (threshold {number(view.threshold, view.unit)})")
    elif view.kind == "no_data":
        lines.append("*Value:* no data: the metric cannot be read, so health is unknown")
    if view.held_for is not None:
        lines.append(f"*For:* {duration(view.held_for)}")
    if view.opened_at is not None:
        lines.append(f"*Since:* {clock(view.opened_at, tz)}")
    blocks.append(section("\n".join(lines)))
    if view.latest_step is not None:
        latest = view.latest_step
        done = f", finished {clock(latest.finished_at, tz)}" if latest.finished_at else ""
        # A run-wide trigger blames the latest production step; a step's own condition, that step.
        label = "Step this condition judges" if view.step_condition else "Latest production step"
        blocks.append(
            section(
                f"*{label}:* {escape_inline(latest.step_id)} {escape_inline(latest.title)} "
                f"({escape_inline(latest.environment)}{done})"
            )
        )
    pending = view.state in ("open", "acknowledged")  # a held alert's rollback waits for a person
    if view.auto_rollback_at is not None and pending:
        blocks.append(context(f":alarm_clock: Automatic rollback at {clock(view.auto_rollback_at, tz)} unless held."))
    elif view.auto_rollback_paused and pending:
        blocks.append(context(":double_vertical_bar: Auto-rollback paused with the run; press Roll back to do it now."))
    elif view.step_condition and view.latest_step is not None and pending:
        step = escape_inline(view.latest_step.step_id)
        blocks.append(context(f"No automatic rollback: press Roll back to roll {step} back if it is the cause."))
    if oncall:
        blocks.append(section(f"{oncall} please look at this now."))
    if view.state != "open":
        by = f" by {who(view.acknowledged_by)}" if view.acknowledged_by else ""
        blocks.append(context(f"{view.state.replace('_', ' ').capitalize()}{by}."))
    buttons = _buttons(view)
    if buttons:
        blocks.append(actions(buttons, block_id=f"alert:{view.alert_id}"))
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    # The title may carry an incident's words: cut them, never the on-call mention after them.
    text = f"{prefix}{kind}: {clamp(view.title, TITLE_IN_TEXT)}"
    return Message(f"{text} {oncall}".strip(), blocks)


def _buttons(view: AlertCardView) -> list[dict[str, Any]]:
    """Open: Roll back, Acknowledge, Hold. Acknowledged: Roll back and Hold, since the countdown
    still runs. Held: Roll back (a person decides). Resolved: none."""
    if view.state not in ("open", "acknowledged", "held"):
        return []
    value = ActionValue(
        run=view.meta.run_id,
        step=view.latest_step.step_id if view.latest_step else None,
        env=view.latest_step.environment if view.latest_step else view.environment,
        alert=view.alert_id,
        card_version=view.meta.card_version,
    )
    buttons = []
    if view.latest_step is not None:
        buttons.append(
            button(
                "Roll back",
                Verb.ROLLBACK,
                value,
                style="danger",
                confirm=Confirm(
                    "Roll back?",
                    f"Show what rolling back *{escape_inline(view.latest_step.step_id)}* restores? "
                    "Nothing changes until you confirm.",
                    confirm="Show me",
                ),
            )
        )
    if view.state == "open":
        buttons.append(button("Acknowledge", Verb.ACK, value, style="primary"))
    if view.state != "held":
        buttons.append(
            button(
                "Hold",
                Verb.HOLD,
                value,
                confirm=Confirm(
                    "Hold the run?",
                    "Hold the run and any automatic rollback? No step can run until someone resumes it.",
                    confirm="Hold",
                    danger=True,
                ),
            )
        )
    return buttons
