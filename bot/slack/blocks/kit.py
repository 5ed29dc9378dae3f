"""Small Block Kit constructors over slack_sdk's models, with our limits applied on the way in.

slack_sdk validates lengths on ``to_dict`` and raises; we clamp first, because a card
that loses the end of a long sentence is better than a card that is never posted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.blocks import limits
from bot.slack.blocks.actions import ActionValue, Verb, action_id
from bot.slack.blocks.limits import Block, clamp

DRY_RUN = "DRY RUN"


@dataclass(frozen=True)
class Message:
    """A chat message: notification text (also the screen-reader text) plus blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def parts(self) -> list[Message]:
        """The message split so each part fits Slack's limits (long plans, long checklists)."""
        pieces = limits.split_blocks(self.blocks)
        if len(pieces) == 1:
            return [self]
        return [
            Message(self.text if i == 0 else f"{self.text} (part {i + 1} of {len(pieces)})", blocks)
            for i, blocks in enumerate(pieces)
        ]

    def payload(self) -> dict[str, Any]:
        """Keyword arguments for chat.postMessage / chat.update (add channel and ts)."""
        return {"text": clamp(self.text, limits.FALLBACK_TEXT), "blocks": self.blocks}


def header(text: str, dry_run: bool = False) -> Block:
    title = f"{DRY_RUN} · {text}" if dry_run else text
    return HeaderBlock(text=PlainTextObject(text=clamp(title, limits.HEADER_TEXT), emoji=True)).to_dict()


def section(mrkdwn: str, block_id: str | None = None) -> Block:
    """A section; text longer than Slack allows is kept whole and split later by split_blocks
    (so it is built as a dict: slack_sdk's SectionBlock would refuse it)."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn or " "}}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def fields_section(pairs: Sequence[str]) -> Block:
    items = [MarkdownTextObject(text=clamp(p, limits.SECTION_FIELD_TEXT)) for p in pairs[: limits.SECTION_FIELDS]]
    return SectionBlock(fields=items).to_dict()


def context(*mrkdwn: str) -> Block:
    texts = [t for t in mrkdwn if t][: limits.CONTEXT_ELEMENTS] or [" "]
    elements = [MarkdownTextObject(text=clamp(t, limits.SECTION_FIELD_TEXT)) for t in texts]
    return ContextBlock(elements=elements).to_dict()


def divider() -> Block:
    return DividerBlock().to_dict()


@dataclass(frozen=True)
class Confirm:
    title: str
    text: str  # mrkdwn, already escaped
    confirm: str = "Yes"
    deny: str = "Cancel"
    danger: bool = False


def button(
    label: str,
    verb: Verb,
    value: ActionValue,
    *,
    qualifier: str | None = None,
    style: Literal["primary", "danger"] | None = None,
    confirm: Confirm | None = None,
    label_limit: int = limits.OUR_LABEL,
) -> dict[str, Any]:
    """A button; ``label_limit`` is our short house label unless the words are the runbook's own (Slack's 75)."""
    confirm_obj = None
    if confirm is not None:
        confirm_obj = ConfirmObject(
            title=clamp(confirm.title, limits.CONFIRM_TITLE),
            text=MarkdownTextObject(text=clamp(confirm.text, limits.CONFIRM_TEXT)),
            confirm=clamp(confirm.confirm, limits.OUR_LABEL),
            deny=clamp(confirm.deny, limits.OUR_LABEL),
            style="danger" if confirm.danger else "primary",
        )
    element = ButtonElement(
        text=clamp(label, label_limit),
        action_id=action_id(verb, qualifier),
        value=value.encode(),
        style=style,
        confirm=confirm_obj,
    )
    result: dict[str, Any] = element.to_dict()
    return result


def actions(elements: Sequence[dict[str, Any]], block_id: str | None = None) -> Block:
    # Elements are dicts already; ActionsBlock accepts them and keeps them as given.
    return ActionsBlock(elements=list(elements)[: limits.ACTIONS_ELEMENTS], block_id=block_id).to_dict()


@dataclass(frozen=True)
class Box:
    """One checkbox: the option value is an encoded ActionValue naming the item."""

    value: ActionValue
    text: str  # mrkdwn, already escaped
    ticked: bool = False
    note: str | None = None  # plain text under the item: who ticked it and when


def checkboxes(boxes: Sequence[Box], verb: Verb, block_id_prefix: str) -> list[Block]:
    """Actions blocks of at most 10 checkboxes each (Slack's limit per element)."""
    blocks: list[Block] = []
    for start in range(0, len(boxes), limits.CHECKBOX_OPTIONS):
        chunk = boxes[start : start + limits.CHECKBOX_OPTIONS]
        options = [
            Option(
                value=box.value.encode(),
                text=MarkdownTextObject(text=clamp(box.text, limits.OPTION_TEXT)),
                description=PlainTextObject(text=clamp(box.note, limits.OPTION_DESCRIPTION)) if box.note else None,
            )
            for box in chunk
        ]
        initial = [opt for opt, box in zip(options, chunk, strict=True) if box.ticked]
        element = CheckboxesElement(action_id=action_id(verb), options=options, initial_options=initial or None)
        block_id = clamp(f"{block_id_prefix}:{start // limits.CHECKBOX_OPTIONS}", limits.BLOCK_ID)
        blocks.append(ActionsBlock(elements=[element], block_id=block_id).to_dict())
    return blocks


# --- formatting of values ------------------------------------------------------------------


def clock(at: datetime | None, tz: str = "UTC") -> str:
    """'10:02' in the team's time zone ('' when unknown)."""
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def when(at: datetime | None, tz: str = "UTC") -> str:
    """'Mon 27 Oct 10:02' in the team's time zone."""
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M")


def duration(value: timedelta) -> str:
    """'1h 05m', '12m', '40s': short and exact enough for an alert."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m" if not secs else f"{minutes}m {secs:02d}s"
    return f"{secs}s"


UNITS = {"pct": "%", "ms": " ms", "count": "", "usd": " USD", "mb": " MB", "ratio": "", "rps": " rps"}


def number(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "no data"
    text = f"{int(value):,}" if value == int(value) else f"{value:,.2f}".rstrip("0").rstrip(".")
    if unit == "usd":
        return f"${text}"
    return text + UNITS.get(unit, f" {unit}" if unit else "")


def verdict(passed: bool | None) -> str:
    """Emoji for pass / fail / unknown (unknown is never shown as healthy)."""
    if passed is None:
        return ":grey_question:"
    return ":white_check_mark:" if passed else ":x:"


STATE_EMOJI = {
    "pending": ":white_circle:",
    "ready": ":large_blue_circle:",
    "approved": ":ballot_box_with_check:",
    "running": ":arrows_counterclockwise:",
    "waiting": ":hourglass_flowing_sand:",
    "verifying": ":mag:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "rolling_back": ":rewind:",
    "rolled_back": ":leftwards_arrow_with_hook:",
    "skipped": ":fast_forward:",
}


def state_badge(state: str) -> str:
    return f"{STATE_EMOJI.get(state, ':grey_question:')} {state.replace('_', ' ')}"
