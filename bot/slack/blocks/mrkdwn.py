"""Escaping for Slack mrkdwn, so text a person typed can never ping, link or format in a public message.

Slack has no backslash escape: control characters are HTML-escaped (&, <, >), and the
formatting markers are swapped for look-alike characters that Slack does not parse.
Mentions are built only from configured ids, never from user text.
"""

from __future__ import annotations

import re

# Look-alikes Slack leaves alone: ASTERISK OPERATOR, TILDE OPERATOR, MODIFIER LETTER GRAVE,
# MODIFIER LETTER LOW MACRON.
_MARKERS = {"*": "\u2217", "~": "\u223c", "`": "\u02cb", "_": "\u02cd"}
_MASS_MENTION = re.compile(r"([@!])(here|channel|everyone)\b", re.IGNORECASE)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,40}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,40}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,40}$")
_ZERO_WIDTH = "\u200b"


def escape(text: str) -> str:
    """User text made inert for mrkdwn: no mentions, links, or formatting survive."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = _MASS_MENTION.sub(lambda m: f"{m.group(1)}{_ZERO_WIDTH}{m.group(2)}", out)
    chars = list(out)
    for i, char in enumerate(chars):
        if char not in _MARKERS:
            continue
        if char == "_" and _between_word_chars(out, i):
            continue  # snake_case identifiers are never italic in Slack
        chars[i] = _MARKERS[char]
    return "".join(chars)


class Mrkdwn(str):
    """Text already safe for mrkdwn: the bot's own markup (a `/ion help` code span) with every quoted
    part a person typed escaped where it was put in, so it is posted as it is and not escaped again."""


def mrkdwn_format(template: str, /, **quoted: object) -> Mrkdwn:
    """``template`` is the bot's own mrkdwn; each ``{name}`` is a person's text, escaped on one line."""
    return Mrkdwn(template.format(**{name: escape_inline(str(value)) for name, value in quoted.items()}))


def escape_inline(text: str) -> str:
    """Escaped and on one line, for labels and list items."""
    return escape(" ".join(text.split()))


def _between_word_chars(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def code(text: str) -> str:
    """Inline code for values we produce (diffs, ids); backticks inside are swapped so it cannot break out."""
    inner = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "\u02cb")
    return f"`{inner}`" if inner else ""


def mention_user(user_id: str) -> str:
    """A user mention; only ids (from Slack payloads or config), never names typed by people."""
    if not _USER_ID.match(user_id):
        raise ValueError(f"'{user_id}' is not a Slack user id (they look like U012ABCDEF); no mention was made.")
    return f"<@{user_id}>"


def mention_group(group_id: str) -> str:
    """A user-group mention (e.g. the on-call group) from a configured id."""
    if not _GROUP_ID.match(group_id):
        raise ValueError(f"'{group_id}' is not a Slack user-group id (they look like S012ABCDEF); no mention was made.")
    return f"<!subteam^{group_id}>"


def mention_channel(channel_id: str) -> str:
    """A channel link from a configured or payload channel id."""
    if not _CHANNEL_ID.match(channel_id):
        raise ValueError(f"'{channel_id}' is not a Slack channel id (they look like C012ABCDEF).")
    return f"<#{channel_id}>"


def who(user: str | None) -> str:
    """A mention when ``user`` is a Slack user id, the escaped name otherwise (console users, the bot)."""
    if not user:
        return "someone"
    if _USER_ID.match(user):
        return f"<@{user}>"
    return escape_inline(user)
