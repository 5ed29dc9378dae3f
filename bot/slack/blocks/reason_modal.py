"""A small modal asking why: for Reject and for a Go/No-Go NO, which the engine refuses without a reason."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot.slack.blocks import limits
from bot.slack.blocks.actions import ActionValue, Verb, action_id
from bot.slack.blocks.kit import section
from bot.slack.blocks.limits import clamp

REASON_BLOCK = "reason"
REASON_INPUT = "ion:reason"


def reason_modal(
    title: str,
    question: str,
    callback: Verb,
    meta: ActionValue,
    dry_run: bool = False,
    label: str = "Reason",
    multiline: bool = True,
) -> dict[str, Any]:
    """``callback`` is the verb the submit handler dispatches on (reject, gate_decide, done)."""
    prefix = "DRY RUN " if dry_run else ""
    view = View(
        type="modal",
        callback_id=action_id(callback),
        title=PlainTextObject(text=clamp(prefix + title, limits.VIEW_TITLE)),
        submit=PlainTextObject(text="Send"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=meta.encode(),
        blocks=[
            section(question),
            InputBlock(
                block_id=REASON_BLOCK,
                label=PlainTextObject(text=label),
                element=PlainTextInputElement(
                    action_id=REASON_INPUT, multiline=multiline, min_length=1 if not multiline else 3, max_length=500
                ),
            ),
        ],
    )
    payload: dict[str, Any] = view.to_dict()
    return payload


def reason_errors(reason: str | None) -> dict[str, str] | None:
    if reason and reason.strip():
        return None
    return {REASON_BLOCK: "Give a reason, so the team knows why; nothing has been recorded yet."}
