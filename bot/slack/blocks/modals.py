"""The confirm modals for a production run and for a rollback (``views.open`` payloads).

The person sees the exact diff and types the service name; ``private_metadata`` carries
run, step, environment and plan fingerprint so the submit handler can refuse a plan
that changed since the modal was opened. The same dialog opens first as a notice
("Planning day2.1 on production…"), because Slack's trigger id lasts 3 s and planning may not.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot.engine.ports import Change
from bot.runbook.models import Step
from bot.slack.blocks import limits
from bot.slack.blocks.actions import ActionValue, Verb, action_id
from bot.slack.blocks.kit import Message, actions, button, context, header, section
from bot.slack.blocks.limits import clamp
from bot.slack.blocks.mrkdwn import code, escape_inline
from bot.slack.blocks.step_card import change_line, plan_text
from bot.slack.blocks.views import PlanView, RollbackCardView

CONFIRM_BLOCK = "confirm_name"


def confirmation_word(step: Step) -> str:
    """What the person must type: the first service (or Cloud SQL instance) the step changes, else its id."""
    for action in step.actions:
        service = getattr(action, "service", None) or getattr(action, "instance", None)
        if isinstance(service, str) and service:
            return service
    return step.id


def typed_confirmation_errors(typed: str | None, expected: str) -> dict[str, str] | None:
    """Bolt's ``response_action: errors`` map when the typed name is wrong; None when it matches."""
    if (typed or "").strip() == expected:
        return None
    return {CONFIRM_BLOCK: clamp(f"Type {expected} exactly to confirm; nothing has been run yet.", 150)}


TITLES = {Verb.CONFIRM_RUN: "Confirm run", Verb.CONFIRM_ROLLBACK: "Confirm rollback"}


def _modal(
    title: str, submit: str, callback: Verb, meta: ActionValue, blocks: list[dict[str, Any]], dry_run: bool
) -> dict[str, Any]:
    prefix = "DRY RUN " if dry_run else ""
    view = View(
        type="modal",
        callback_id=action_id(callback),
        title=PlainTextObject(text=clamp(prefix + title, limits.VIEW_TITLE)),
        submit=PlainTextObject(text=clamp(submit, limits.VIEW_BUTTON)),
        close=PlainTextObject(text="Cancel"),
        private_metadata=meta.encode(),
        blocks=blocks,
    )
    payload: dict[str, Any] = view.to_dict()
    return payload


def notice_modal(callback: Verb, text: str, *, dry_run: bool = False, close: str = "Close") -> dict[str, Any]:
    """The confirm dialog before (or instead of) its plan: a sentence, no submit button, no metadata.

    It keeps the confirm dialog's callback id, so it is the same dialog in every client; with no
    submit button and no metadata there is nothing to submit, and a submission would do nothing.
    """
    prefix = "DRY RUN " if dry_run else ""
    view = View(
        type="modal",
        callback_id=action_id(callback),
        title=PlainTextObject(text=clamp(prefix + TITLES.get(callback, "Confirm"), limits.VIEW_TITLE)),
        close=PlainTextObject(text=clamp(close, limits.VIEW_BUTTON)),
        blocks=[section(text)],
    )
    payload: dict[str, Any] = view.to_dict()
    return payload


def reopen_message(text: str, verb: Verb, qualifier: str | None, value: ActionValue) -> Message:
    """An ephemeral with a button that asks again: its click brings a fresh trigger id for the dialog."""
    label = "Review and confirm"
    return Message(text, [section(text), actions([button(label, verb, value, qualifier=qualifier, style="danger")])])


def _sections(text: str) -> list[dict[str, Any]]:
    """Long diffs as several sections (a modal holds 100 blocks), never cut mid-line."""
    pieces = limits.split_text(text)[: limits.VIEW_BLOCKS - 10]
    return [section(piece) for piece in pieces]


def _typed_input(word: str) -> dict[str, Any]:
    block = InputBlock(
        block_id=CONFIRM_BLOCK,
        label=PlainTextObject(text=clamp(f"Type {word} to confirm", limits.INPUT_LABEL)),
        element=PlainTextInputElement(action_id=action_id(Verb.TYPED_NAME), placeholder=clamp(word, 150)),
    )
    result: dict[str, Any] = block.to_dict()
    return result


def run_confirm_modal(
    step: Step,
    plan: PlanView,
    meta: ActionValue,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Confirm running ``step`` with ``plan``; ``meta`` names run, step, env, fingerprint, card version."""
    word = confirmation_word(step)
    where = escape_inline(plan.environment)
    blocks = [
        header(f"Run {step.id} on {plan.environment}", dry_run),
        section(f"You are about to run *{escape_inline(step.title)}* on *{where}*. This is exactly what changes:"),
        *_sections(plan_text(plan)),
        context(f"Plan {code(plan.fingerprint[:12])}: if the live state moves, you will be asked again."),
        _typed_input(word),
    ]
    if dry_run:
        blocks.insert(1, context("DRY RUN: nothing will be changed; the bot only shows what it would do."))
    return _modal("Confirm run", f"Run on {plan.environment}", Verb.CONFIRM_RUN, meta, blocks, dry_run)


def rollback_confirm_modal(view: RollbackCardView, word: str, meta: ActionValue) -> dict[str, Any]:
    """Confirm a rollback after seeing what each target goes back to; ``word`` is what to type."""
    where = escape_inline(view.environment)
    lines = [change_line(Change(c.target, c.field, c.before, c.after)) for c in view.restores]
    body = "\n".join(lines) or "_nothing was changed, so nothing will be restored_"
    blocks = [
        header(f"Roll back {view.step_id} on {view.environment}", view.meta.dry_run),
        section(f"Rolling back *{escape_inline(view.step_title)}* on *{where}* restores:"),
        *_sections(body),
        _typed_input(word),
    ]
    return _modal("Confirm rollback", "Roll back", Verb.CONFIRM_ROLLBACK, meta, blocks, view.meta.dry_run)
