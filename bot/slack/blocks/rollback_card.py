"""The rollback card: exactly what will be restored, line by line from the write-ahead snapshots."""

from __future__ import annotations

from bot.slack.blocks.actions import ActionValue, Verb
from bot.slack.blocks.kit import Confirm, Message, actions, button, context, header, section, when
from bot.slack.blocks.mrkdwn import code, escape_inline, who
from bot.slack.blocks.step_card import change_line
from bot.slack.blocks.views import RollbackCardView


def rollback_card(view: RollbackCardView) -> Message:
    tz = view.meta.timezone
    env = escape_inline(view.environment)
    blocks = [header(f"Roll back {view.step_id} on {view.environment}", view.meta.dry_run)]
    applied = ""
    if view.applied_at is not None:
        by = f" by {who(view.applied_by)}" if view.applied_by else ""
        applied = f" (applied {when(view.applied_at, tz)}{by})"
    blocks.append(section(f"*{escape_inline(view.step_title)}* on *{env}*{applied}"))
    if view.refusal:
        blocks.append(section(f":no_entry: {escape_inline(view.refusal)}"))
        prefix = "[DRY RUN] " if view.meta.dry_run else ""
        return Message(f"{prefix}Rollback of {view.step_id} is not possible", blocks)
    if view.restores:
        lines = [change_line(change) for change in view.restores]
        blocks.append(section("*This will be restored* (now → from snapshot):\n" + "\n".join(lines)))
    else:
        blocks.append(section("Nothing was changed by this step, so nothing needs restoring."))
    blocks.append(context(f"Snapshot plan {code(view.fingerprint[:12])}"))
    if view.restores:
        value = ActionValue(
            run=view.meta.run_id,
            step=view.step_id,
            env=view.environment,
            fingerprint=view.fingerprint,
            card_version=view.meta.card_version,
        )
        typed = " You will type the service name to confirm." if view.production else ""
        blocks.append(
            actions(
                [
                    button(
                        "Roll back now",
                        Verb.ROLLBACK,
                        value,
                        qualifier="confirm",
                        style="danger",
                        confirm=Confirm(
                            "Roll back?",
                            f"Restore {len(view.restores)} value(s) on *{env}*?{typed}",
                            confirm="Roll back",
                            danger=True,
                        ),
                    )
                ],
                block_id=f"rollback:{view.step_id}:{view.environment}",
            )
        )
    prefix = "[DRY RUN] " if view.meta.dry_run else ""
    return Message(f"{prefix}Rollback of {view.step_id} on {view.environment}", blocks)
