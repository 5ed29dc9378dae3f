"""Block Kit cards: pure functions from small view dataclasses to Slack payloads."""

from bot.slack.blocks.actions import ACTION_ID_PATTERN, ActionValue, Verb, action_id, parse_action_id
from bot.slack.blocks.alert_card import alert_card
from bot.slack.blocks.gate_card import gate_card
from bot.slack.blocks.help import help_message
from bot.slack.blocks.kit import Message
from bot.slack.blocks.modals import (
    CONFIRM_BLOCK,
    confirmation_word,
    rollback_confirm_modal,
    run_confirm_modal,
    typed_confirmation_errors,
)
from bot.slack.blocks.progress import progress_line, progress_message
from bot.slack.blocks.rollback_card import rollback_card
from bot.slack.blocks.status_card import home_view, status_card, today_card
from bot.slack.blocks.step_card import step_card

__all__ = [
    "ACTION_ID_PATTERN",
    "CONFIRM_BLOCK",
    "ActionValue",
    "Message",
    "Verb",
    "action_id",
    "alert_card",
    "confirmation_word",
    "gate_card",
    "help_message",
    "home_view",
    "parse_action_id",
    "progress_line",
    "progress_message",
    "rollback_card",
    "rollback_confirm_modal",
    "run_confirm_modal",
    "status_card",
    "step_card",
    "today_card",
    "typed_confirmation_errors",
]
