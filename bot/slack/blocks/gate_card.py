"""The Go/No-Go card: live health checks, the manual sections to tick, YES / NO, sign-offs."""

from __future__ import annotations

from bot.slack.blocks.actions import ActionValue, Verb
from bot.slack.blocks.kit import (
    Box,
    Confirm,
    Message,
    actions,
    button,
    checkboxes,
    clock,
    context,
    divider,
    header,
    section,
)
from bot.slack.blocks.limits import BUTTON_TEXT
from bot.slack.blocks.mrkdwn import escape_inline, who
from bot.slack.blocks.step_card import check_line
from bot.slack.blocks.views import CountedView, GateCardView


def _value(view: GateCardView, **extra: str) -> ActionValue:
    return ActionValue(run=view.meta.run_id, step=view.gate.id, card_version=view.meta.card_version, **extra)


MAX_COUNTED = 8  # lines of counted things per check on the card; the rest as "and N more"


def _counted_line(counted: CountedView) -> str:
    text = escape_inline(counted.text)
    if counted.link and counted.link.startswith("https://"):
        return f"    • <{counted.link}|{text.replace('|', '/')}>"
    return f"    • {text}"


def gate_card(view: GateCardView) -> Message:
    gate, tz = view.gate, view.meta.timezone
    blocks = [header(f"Go/No-Go · {gate.title}", view.meta.dry_run)]
    facts = [f"{gate.id}", f"day {gate.day} at {gate.at:%H:%M}"]
    if view.on_date:
        facts.append(f"{view.on_date:%a %d %b}")
    if gate.unlocks_day:
        facts.append(f"unlocks day {gate.unlocks_day}")
    blocks.append(context(" · ".join(facts)))
    if gate.health_checks:
        checks = {c.label: c for c in view.checks}
        lines = []
        for n, health in enumerate(gate.health_checks, 1):
            check = checks.get(health.label) or next(
                (c for c in checks.values() if c.label.startswith(health.label)), None
            )
            if check is None:
                lines.append(f"{n}. :grey_question: {escape_inline(health.label)}: not checked yet")
            else:
                lines.append(f"{n}. {check_line(check)}")
                lines.extend(_counted_line(c) for c in check.counted[:MAX_COUNTED])
                if len(check.counted) > MAX_COUNTED:
                    lines.append(f"    • and {len(check.counted) - MAX_COUNTED} more")
        blocks.append(section("*System health*\n" + "\n".join(lines)))
        if view.overrides:
            blocks.append(context(*(f":warning: {escape_inline(o)}" for o in view.overrides)))
    ticks = {t.item_id: t for t in view.ticks}
    for n, part in enumerate(gate.sections):
        done = sum(1 for item in part.items if item.id in ticks)
        blocks.append(section(f"*{escape_inline(part.title)}* ({done}/{len(part.items)})"))
        boxes = []
        for item in part.items:
            tick = ticks.get(item.id)
            note = None
            if tick is not None:
                note = (
                    f"waived by {tick.ticked_by}: {tick.waived_reason}"
                    if tick.waived_reason
                    else f"{tick.ticked_by}, {clock(tick.at, tz)}"
                )
            boxes.append(Box(_value(view, item=item.id), escape_inline(item.text), tick is not None, note))
        blocks.extend(checkboxes(boxes, Verb.GATE_TICK, f"gate:{gate.id}:{n}"))
    if gate.signoffs:
        signed = {s.role: s for s in view.signoffs}
        lines = []
        for role in gate.signoffs:
            signoff = signed.get(role)
            if signoff is not None and signoff.by:
                lines.append(f":white_check_mark: {escape_inline(role)}: {who(signoff.by)} {clock(signoff.at, tz)}")
            else:
                lines.append(f":hourglass: {escape_inline(role)}: awaited")
        blocks.append(section("*Sign-offs*\n" + "\n".join(lines)))
    blocks.append(divider())
    if view.decision is None:
        title = escape_inline(gate.title)
        recheck = (
            [button("Re-check", Verb.GATE_RECHECK, _value(view), qualifier="recheck")] if gate.health_checks else []
        )
        blocks.append(
            actions(
                [
                    *recheck,
                    button(
                        gate.yes_label,
                        Verb.GATE_DECIDE,
                        _value(view, decision="yes"),
                        qualifier="yes",
                        style="primary",
                        label_limit=BUTTON_TEXT,  # the runbook's words, shown whole as Slack allows
                        confirm=Confirm("Decide YES?", f"Record *YES* for *{title}* and proceed?", confirm="YES"),
                    ),
                    button(
                        gate.no_label,
                        Verb.GATE_DECIDE,
                        _value(view, decision="no"),
                        qualifier="no",
                        style="danger",
                        label_limit=BUTTON_TEXT,
                        confirm=Confirm(
                            "Decide NO?",
                            f"Record *NO* for *{title}*? The run pauses until the gate is decided again.",
                            confirm="NO",
                            danger=True,
                        ),
                    ),
                ],
                block_id=f"gate:{gate.id}:decide",
            )
        )
    else:
        icon = ":large_green_circle:" if view.decision == "yes" else ":red_circle:"
        reason = f": {escape_inline(view.reason)}" if view.reason else ""
        by = f" by {who(view.decided_by)}" if view.decided_by else ""
        at = f" at {clock(view.decided_at, tz)}" if view.decided_at else ""
        blocks.append(section(f"{icon} *Decision: {view.decision.upper()}*{by}{at}{reason}"))
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    return Message(f"{prefix}Go/No-Go: {gate.title}", blocks)
