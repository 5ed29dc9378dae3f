"""Progress of an execution, as one thread message the bot keeps updating with ``chat.update``."""

from __future__ import annotations

from bot.slack.blocks.kit import Message, clock, context, section, verdict
from bot.slack.blocks.limits import SECTION_TEXT, clamp
from bot.slack.blocks.mrkdwn import escape_inline
from bot.slack.blocks.views import ProgressEntry, ProgressView

_KEEP = 40  # lines shown; older ones are summarised so the message stays under Slack's limit


def progress_line(entry: ProgressEntry, tz: str = "UTC") -> str:
    mark = ":hourglass_flowing_sand:" if entry.ok is None else verdict(entry.ok)
    return f"`{clock(entry.at, tz)}` {mark} {escape_inline(entry.text)}"


def progress_message(view: ProgressView) -> Message:
    verb = "Rolling back" if view.kind == "rollback" else "Running"
    if view.finished == "succeeded":
        verb = "Rolled back" if view.kind == "rollback" else "Done"
    elif view.finished is not None:
        verb = "Rollback failed" if view.kind == "rollback" else "Failed"
    dry = "DRY RUN · " if view.meta.dry_run else ""
    title = f"{dry}{verb}: {view.step_id} on {view.environment}"
    entries = view.entries[-_KEEP:]
    hidden = len(view.entries) - len(entries)
    lines = [progress_line(e, view.meta.timezone) for e in entries]
    if hidden:
        lines.insert(0, f"_… {hidden} earlier lines_")
    blocks = [section(f"*{escape_inline(title)}*")]
    if lines:
        blocks.append(section(clamp("\n".join(lines), SECTION_TEXT)))
    else:
        blocks.append(context("Starting…"))
    return Message(title, blocks)
