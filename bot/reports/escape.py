"""Make user-provided text inert in the reports' Slack mrkdwn.

The reports are Slack messages, so they use the chat layer's one escaper: a step title or an
alert message must never ping the channel, open a link or reformat the report.
"""

from __future__ import annotations

from bot.slack.blocks.mrkdwn import escape


def mrkdwn(text: object) -> str:
    """Escape one user-provided value for a Slack mrkdwn message; None becomes an empty string."""
    if text is None:
        return ""
    return escape(str(text))
