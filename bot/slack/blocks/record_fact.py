"""The daily report's "Record" buttons for quality targets nobody has recorded yet, and their dialog.

A button names the target by the id `/ion record` takes (``zero-data-loss``); its dialog asks for
the same words the command takes after the id: a verdict (yes or no) and an optional note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.slack.blocks.actions import ActionValue, Verb
from bot.slack.blocks.kit import actions, button
from bot.slack.blocks.reason_modal import REASON_BLOCK, reason_modal

RECORD_BLOCK = "ion_record_facts"


def record_buttons(run_id: str, targets: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """One actions block with a "Record: LABEL" button per (id, label) target; none when all are recorded."""
    if not targets:
        return []
    elements = [
        button(f"Record: {label}", Verb.RECORD, ActionValue(run=run_id, item=item), qualifier=item)
        for item, label in targets
    ]
    return [actions(elements, block_id=RECORD_BLOCK)]


def record_modal(meta: ActionValue, label: str, dry_run: bool) -> dict[str, Any]:
    """The dialog of one target: a verdict and an optional note in one line, as `/ion record` reads them."""
    question = (
        f"Does *{label}* hold? Write *yes* or *no*, then an optional note "
        "(e.g. `yes restore drill clean`). It is recorded as `/ion record` would, with your name."
    )
    return reason_modal("Record", question, Verb.RECORD, meta, dry_run, label="Verdict and note", multiline=False)


def split_answer(text: str | None) -> tuple[str, str | None]:
    """("yes", "restore drill clean") from "yes restore drill clean"; ("", None) from nothing."""
    words = (text or "").split(maxsplit=1)
    if not words:
        return "", None
    return words[0].lower(), (words[1].strip() or None) if len(words) > 1 else None


def answer_errors(text: str | None, is_verdict: bool) -> dict[str, str] | None:
    """The dialog's own refusal of an answer that does not start with yes or no; nothing is recorded."""
    if is_verdict:
        return None
    return {REASON_BLOCK: "Start with yes or no (or pass / fail), then a note if you like; nothing was recorded."}
