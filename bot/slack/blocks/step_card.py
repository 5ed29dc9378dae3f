"""The step card: everything a person needs to decide on a step, and the buttons to act on it."""

from __future__ import annotations

from bot.engine.ports import Change
from bot.engine.states import Move
from bot.runbook.describe import describe_action
from bot.runbook.models import Step
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
    number,
    section,
    state_badge,
    verdict,
)
from bot.slack.blocks.mrkdwn import code, escape, escape_inline, who
from bot.slack.blocks.views import ApprovalView, CheckView, LaneView, ListView, PlanView, StepCardView

ARROW = "→"


def change_line(change: Change) -> str:
    """``minInstances 3 → 2`` on ``ion-mentoring-api us-central1``, as mrkdwn."""
    before = "(unset)" if change.before is None else str(change.before)
    after = "(unset)" if change.after is None else str(change.after)
    return f"{escape_inline(change.target)}: {code(f'{change.field} {before} {ARROW} {after}')}"


def plan_text(plan: PlanView) -> str:
    lines = [f"*Plan on {escape_inline(plan.environment)}*  {code(plan.fingerprint[:12])}"]
    for line in plan.lines:
        lines.append(f"• {escape_inline(line.description)}")
        if line.mutating and not line.changes:
            lines.append("    _already at target: nothing to change_")
        lines.extend(f"    {change_line(change)}" for change in line.changes)
    return "\n".join(lines)


def check_line(check: CheckView) -> str:
    figure = number(check.value, check.unit)
    limit = f" (threshold {number(check.threshold, check.unit)})" if check.threshold is not None else ""
    detail = f" — {escape_inline(check.detail)}" if check.detail else ""
    return f"{verdict(check.passed)} {escape_inline(check.label)}: {figure}{limit}{detail}"


def lane_line(lane: LaneView, tz: str) -> str:
    since = f" since {clock(lane.since, tz)}" if lane.since else ""
    by = f" by {who(lane.by)}" if lane.by else ""
    reason = f": {escape_inline(lane.reason)}" if lane.reason else ""
    return f"*{escape_inline(lane.environment)}* {state_badge(lane.state)}{since}{by}{reason}"


def _value(view: StepCardView, env: str | None) -> ActionValue:
    plan = next((p for p in view.plans if p.environment == env), None)
    return ActionValue(
        run=view.meta.run_id,
        step=view.step.id,
        env=env,
        fingerprint=plan.fingerprint if plan else None,
        card_version=view.meta.card_version,
    )


def _lane(view: StepCardView, env: str) -> LaneView:
    return next((lane for lane in view.lanes if lane.environment == env), LaneView(env, "pending"))


def _buttons(view: StepCardView) -> list[dict[str, object]]:
    """Each lane's buttons are its allowed moves (LaneView.moves, the engine's table), never a state list.

    Approve and Reject are one pair, for the first lane (in the step's order) that awaits a vote;
    Reject alone when the only one taking it is already approved. Run and Roll back are per lane.
    Skipping is a command (/ion skip), not a button.
    """
    title = escape_inline(f"{view.step.id} {view.step.title}")
    lanes = [_lane(view, env) for env in view.step.environments]
    voting = _first(lanes, Move.APPROVE)
    rejecting = voting or _first(lanes, Move.REJECT)
    elements: list[dict[str, object]] = []
    if voting is not None:
        elements.append(_approve_button(view, voting, title))
    if rejecting is not None:
        elements.append(_reject_button(view, rejecting, title))
    elements += [_run_button(view, lane.environment, title) for lane in lanes if Move.RUN in lane.moves]
    elements += _done_buttons(view)
    elements += [_rollback_button(view, lane.environment, title) for lane in lanes if Move.ROLLBACK in lane.moves]
    elements.append(_hold_button(view))
    return elements


def _first(lanes: list[LaneView], move: Move) -> str | None:
    return next((lane.environment for lane in lanes if move in lane.moves), None)


def _approve_button(view: StepCardView, env: str, title: str) -> dict[str, object]:
    question = f"Approve *{title}* on *{escape_inline(env)}* as planned?"
    confirm = Confirm("Approve this step?", question, confirm="Approve")
    return button("Approve", Verb.APPROVE, _value(view, env), qualifier=env, style="primary", confirm=confirm)


def _reject_button(view: StepCardView, env: str, title: str) -> dict[str, object]:
    question = f"Reject *{title}* on *{escape_inline(env)}*? You will be asked for a reason."
    confirm = Confirm("Reject this step?", question, confirm="Reject", danger=True)
    return button("Reject", Verb.REJECT, _value(view, env), qualifier=env, confirm=confirm)


def _run_button(view: StepCardView, env: str, title: str) -> dict[str, object]:
    production = env == "production" or any(p.production for p in view.plans if p.environment == env)
    text = (
        f"Run *{title}* on *{escape_inline(env)}*? You will type the service name to confirm."
        if production
        else f"Run *{title}* on *{escape_inline(env)}* now?"
    )
    confirm = Confirm(f"Run on {env}?", text, confirm="Run", danger=production)
    value = _value(view, env)
    if production:
        return button(f"Run on {env}", Verb.RUN, value, qualifier=env, style="danger", confirm=confirm)
    return button(f"Run on {env}", Verb.RUN, value, qualifier=env, style="primary", confirm=confirm)


def _rollback_button(view: StepCardView, env: str, title: str) -> dict[str, object]:
    question = (
        f"Show what rolling back *{title}* on *{escape_inline(env)}* restores? Nothing changes until you confirm."
    )
    confirm = Confirm("Roll back?", question, confirm="Show me")
    return button(f"Roll back {env}", Verb.ROLLBACK, _value(view, env), qualifier=env, style="danger", confirm=confirm)


def _hold_button(view: StepCardView) -> dict[str, object]:
    question = "Hold the whole run? No step can run until someone resumes it."
    confirm = Confirm("Hold the run?", question, confirm="Hold", danger=True)
    return button("Hold", Verb.HOLD, _value(view, None), confirm=confirm)


def step_card(view: StepCardView) -> Message:
    """The card for ``/ion step ID``; long plans and checklists are split by Message.parts()."""
    step: Step = view.step
    tz = view.meta.timezone
    blocks = [header(f"{step.id} · {step.title}", view.meta.dry_run)]
    facts = []
    if view.on_date:
        facts.append(f"Day {step.day} · {view.on_date:%a %d %b}")
    if step.window:
        facts.append(f"{step.window.start:%H:%M}–{step.window.end:%H:%M}")
    facts.append("environments: " + ", ".join(escape_inline(e) for e in step.environments))
    if step.staging_first:
        facts.append("staging first")
    blocks.append(context(" · ".join(facts)))
    if step.objective:
        blocks.append(section(f"*Objective:* {escape(step.objective)}"))
    if view.lanes:
        blocks.append(section("\n".join(lane_line(lane, tz) for lane in view.lanes)))
    for plan in view.plans:
        blocks.append(section(plan_text(plan)))
    if not view.plans and step.actions:
        described = [f"• {escape_inline(a.title or describe_action(a))}" for a in step.actions]
        blocks.append(section("*Actions*\n" + "\n".join(described)))
    if view.manual:
        blocks.append(section(_manual_text(view)))
    if step.checklist_items():
        blocks.extend(_checklists(view))
    if step.acceptance:
        checks = {c.label: c for c in view.acceptance}
        lines = []
        for condition in step.acceptance:
            label = condition.text or str(condition)
            check = checks.get(label)
            lines.append(check_line(check) if check else f"• {escape_inline(label)}")
        blocks.append(section("*Acceptance criteria*\n" + "\n".join(lines)))
    if view.approvals:
        lines = [_approval_line(a, tz) for a in view.approvals]
        blocks.append(context(*lines))
    if step.expected_impact:
        blocks.append(context(f"Expected impact: {escape_inline(step.expected_impact)}"))
    blocks.append(divider())
    blocks.append(actions(_buttons(view), block_id=f"step:{step.id}"))
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    return Message(f"{prefix}Step {step.id}: {step.title}", blocks)


def _approval_line(approval: ApprovalView, tz: str) -> str:
    thumb = ":+1:" if approval.decision == "approved" else ":-1:"
    reason = f": {escape_inline(approval.reason)}" if approval.reason else ""
    env = escape_inline(approval.environment)
    return f"{thumb} {approval.decision} on {env} by {who(approval.by)} at {clock(approval.at, tz)}{reason}"


def _ticked(view: StepCardView) -> int:
    ids = {item.id for item in view.step.checklist_items()}
    return len({t.item_id for t in view.ticks if t.item_id in ids})


def _done_buttons(view: StepCardView) -> list[dict[str, object]]:
    """Done, per manual action a lane waits for; one asking for a value opens a dialog for it."""
    found: list[dict[str, object]] = []
    waiting = [env for env in view.step.environments if Move.DONE in _lane(view, env).moves]
    for item in view.manual:
        for env in (e for e in item.waiting_in if e in waiting):
            value = ActionValue(
                run=view.meta.run_id, step=view.step.id, env=env, item=item.ref, card_version=view.meta.card_version
            )
            found.append(
                button(f"Done: {item.title}", Verb.DONE, value, qualifier=f"{env}.{item.ref}", style="primary")
            )
    return found


def _manual_text(view: StepCardView) -> str:
    lines = ["*Manual work* (press Done when it is done)"]
    for item in view.manual:
        asks = f"; value: {escape_inline(item.asks)}" if item.asks else ""
        lines.append(f"{item.number}. {escape_inline(item.title)} — for {escape_inline(item.for_whom)}{asks}")
        lines.extend(f"    {escape_inline(line)}" for line in item.lines)
        lines.extend(
            f"    :hourglass: {escape_inline(env)} waits for it: {code(item.usage)}" for env in item.waiting_in
        )
    return "\n".join(lines)


def _checklists(view: StepCardView) -> list[dict[str, object]]:
    """One group of boxes per list, numbered 1..n across the step; a list not yet due says until when."""
    step = view.step
    header_line = f"*Checklist* ({_ticked(view)}/{len(step.checklist_items())} ticked)"
    if not view.lists:
        return [section(header_line), *checkboxes(_boxes(view), Verb.TICK, f"tick:{step.id}")]
    by_id = {box.value.item: box for box in _boxes(view)}
    blocks: list[dict[str, object]] = [section(header_line)]
    for n, listed in enumerate(view.lists):
        note = _due_note(listed, view.meta.timezone)
        blocks.append(context(f"*{escape_inline(listed.title)}*" + (f" — {note}" if note else "")))
        boxes = [_not_yet(by_id[i], listed, view.meta.timezone) for i in listed.item_ids if i in by_id]
        blocks.extend(checkboxes(boxes, Verb.TICK, f"tick:{step.id}:{n}"))
    return blocks


def _due_note(listed: ListView, tz: str) -> str:
    if not listed.moment:
        return ""
    if listed.due_now:
        since = f", due since {clock(listed.due_at, tz)}" if listed.due_at else ""
        return escape_inline(listed.moment) + since
    if not listed.landed:
        return f"{escape_inline(listed.moment)}: *not due yet* (that change has not landed)"
    return f"{escape_inline(listed.moment)}: *not due until {clock(listed.due_at, tz)}*"


def _not_yet(box: Box, listed: ListView, tz: str) -> Box:
    if listed.due_now or box.ticked:
        return box
    when = f"until {clock(listed.due_at, tz)}" if listed.due_at else "yet"
    return Box(value=box.value, text=box.text, ticked=False, note=f"not due {when}")


def _boxes(view: StepCardView) -> list[Box]:
    ticks = {t.item_id: t for t in view.ticks}
    boxes = []
    for item in view.step.checklist_items():
        tick = ticks.get(item.id)
        note = None
        if tick is not None:
            name = tick.ticked_by
            note = (
                f"waived by {name}: {tick.waived_reason}"
                if tick.waived_reason
                else f"{name}, {clock(tick.at, view.meta.timezone)}"
            )
        value = ActionValue(run=view.meta.run_id, step=view.step.id, item=item.id, card_version=view.meta.card_version)
        boxes.append(Box(value=value, text=escape_inline(item.text), ticked=tick is not None, note=note))
    return boxes
