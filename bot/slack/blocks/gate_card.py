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
from bot.slack.blocks.views import CountedView, GateCardView, TickView


def _value(view: GateCardView, **extra: str) -> ActionValue:
    return ActionValue(run=view.meta.run_id, step=view.gate.id, card_version=view.meta.card_version, **extra)


MAX_COUNTED = 8  # lines of counted things per check on the card; the rest as "and N more"


def _counted_line(counted: CountedView) -> str:
    text = escape_inline(counted.text)
    if counted.link and counted.link.startswith("https://"):
        return f"    • <{counted.link}|{text.replace('|', '/')}>"
    return f"    • {text}"


def gate_card(view: GateCardView) -> Message:
    """Facts, health, the sections to tick, the sign-offs, then YES / NO or the decision taken."""
    gate = view.gate
    blocks = [header(f"Go/No-Go · {gate.title}", view.meta.dry_run), context(" · ".join(_facts(view)))]
    if gate.health_checks:
        blocks.append(section("*System health*\n" + "\n".join(_health_lines(view))))
        if view.overrides:
            blocks.append(context(*(f":warning: {escape_inline(o)}" for o in view.overrides)))
    blocks.extend(_sections(view))
    if gate.signoffs:
        blocks.append(section("*Sign-offs*\n" + "\n".join(_signoff_lines(view))))
    blocks.append(divider())
    blocks.append(_decision(view) if view.decision is not None else _decide_buttons(view))
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    return Message(f"{prefix}Go/No-Go: {gate.title}", blocks)


def _facts(view: GateCardView) -> list[str]:
    gate = view.gate
    facts = [f"{gate.id}", f"day {gate.day} at {gate.at:%H:%M}"]
    if view.on_date:
        facts.append(f"{view.on_date:%a %d %b}")
    if gate.unlocks_day:
        facts.append(f"unlocks day {gate.unlocks_day}")
    return facts


def _health_lines(view: GateCardView) -> list[str]:
    """One numbered line per health check (matched by label), with what a counting check counted."""
    checks = {c.label: c for c in view.checks}
    lines = []
    for n, health in enumerate(view.gate.health_checks, 1):
        check = checks.get(health.label) or next((c for c in checks.values() if c.label.startswith(health.label)), None)
        if check is None:
            lines.append(f"{n}. :grey_question: {escape_inline(health.label)}: not checked yet")
            continue
        lines.append(f"{n}. {check_line(check)}")
        lines.extend(_counted_line(c) for c in check.counted[:MAX_COUNTED])
        if len(check.counted) > MAX_COUNTED:
            lines.append(f"    • and {len(check.counted) - MAX_COUNTED} more")
    return lines


def _sections(view: GateCardView) -> list[dict[str, object]]:
    """Each manual section: its title with how many are ticked, then its boxes with who ticked them."""
    ticks = {t.item_id: t for t in view.ticks}
    blocks: list[dict[str, object]] = []
    for n, part in enumerate(view.gate.sections):
        done = sum(1 for item in part.items if item.id in ticks)
        blocks.append(section(f"*{escape_inline(part.title)}* ({done}/{len(part.items)})"))
        boxes = []
        for item in part.items:
            tick = ticks.get(item.id)
            note = _tick_note(tick, view.meta.timezone) if tick is not None else None
            boxes.append(Box(_value(view, item=item.id), escape_inline(item.text), tick is not None, note))
        blocks.extend(checkboxes(boxes, Verb.GATE_TICK, f"gate:{view.gate.id}:{n}"))
    return blocks


def _tick_note(tick: TickView, tz: str) -> str:
    if tick.waived_reason:
        return f"waived by {tick.ticked_by}: {tick.waived_reason}"
    return f"{tick.ticked_by}, {clock(tick.at, tz)}"


def _signoff_lines(view: GateCardView) -> list[str]:
    signed = {s.role: s for s in view.signoffs}
    lines = []
    for role in view.gate.signoffs:
        signoff = signed.get(role)
        if signoff is not None and signoff.by:
            lines.append(
                f":white_check_mark: {escape_inline(role)}: {who(signoff.by)} {clock(signoff.at, view.meta.timezone)}"
            )
        else:
            lines.append(f":hourglass: {escape_inline(role)}: awaited")
    return lines


def _decide_buttons(view: GateCardView) -> dict[str, object]:
    """Re-check (when there is health to check), then the runbook's YES and NO labels, shown whole."""
    gate = view.gate
    title = escape_inline(gate.title)
    recheck = [button("Re-check", Verb.GATE_RECHECK, _value(view), qualifier="recheck")] if gate.health_checks else []
    yes = Confirm("Decide YES?", f"Record *YES* for *{title}* and proceed?", confirm="YES")
    no = Confirm(
        "Decide NO?",
        f"Record *NO* for *{title}*? The run pauses until the gate is decided again.",
        confirm="NO",
        danger=True,
    )
    buttons = [
        *recheck,
        button(
            gate.yes_label,
            Verb.GATE_DECIDE,
            _value(view, decision="yes"),
            qualifier="yes",
            style="primary",
            label_limit=BUTTON_TEXT,
            confirm=yes,
        ),
        button(
            gate.no_label,
            Verb.GATE_DECIDE,
            _value(view, decision="no"),
            qualifier="no",
            style="danger",
            label_limit=BUTTON_TEXT,
            confirm=no,
        ),
    ]
    return actions(buttons, block_id=f"gate:{gate.id}:decide")


def _decision(view: GateCardView) -> dict[str, object]:
    icon = ":large_green_circle:" if view.decision == "yes" else ":red_circle:"
    reason = f": {escape_inline(view.reason)}" if view.reason else ""
    by = f" by {who(view.decided_by)}" if view.decided_by else ""
    at = f" at {clock(view.decided_at, view.meta.timezone)}" if view.decided_at else ""
    return section(f"{icon} *Decision: {str(view.decision).upper()}*{by}{at}{reason}")
