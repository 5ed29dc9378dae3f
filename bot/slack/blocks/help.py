"""The help card, generated from the parser's usage table so the two never disagree."""

from __future__ import annotations

from bot.slack.blocks.kit import Message, context, header, section
from bot.slack.command_parser import USAGE


def help_message(topic: str | None = None, dry_run: bool = False) -> Message:
    if topic is not None and topic in USAGE:
        usage, what = USAGE[topic]
        return Message(f"{usage}: {what}", [section(f"`{usage}`\n{what}")])
    lines = [f"`{usage}`  {what}" for usage, what in USAGE.values()]
    blocks = [
        header("ION rollout bot: commands", dry_run),
        section("\n".join(lines)),
        context("Step ids look like day2.1; gates are preflight or gonogo.day3. Buttons on each card do the same."),
    ]
    return Message("ION rollout bot: commands", blocks)
