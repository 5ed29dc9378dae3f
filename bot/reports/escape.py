"""Make user-provided text inert in Slack mrkdwn.

A step title or alert message must never ping the channel, open a link or reformat the
report. Slack's own escapes cover &, < and >; broadcast words get a zero-width space after
the @; formatting markers are swapped for look-alike characters, because mrkdwn has no
backslash escape.
"""

from __future__ import annotations

import re

ZERO_WIDTH_SPACE = "\u200b"

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_MARKERS = {"*": "\u2217", "~": "\u223c", "`": "\u02cb"}
# An underscore formats only at a word edge ("_text_"); inside snake_case it is harmless.
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def mrkdwn(text: object) -> str:
    """Escape one user-provided value for a Slack mrkdwn message; None becomes an empty string."""
    if text is None:
        return ""
    value = str(text)
    value = "".join(_ENTITIES.get(ch, ch) for ch in value)
    value = _BROADCAST.sub(lambda m: "@" + ZERO_WIDTH_SPACE + m.group(1), value)
    value = "".join(_MARKERS.get(ch, ch) for ch in value)
    return _EDGE_UNDERSCORE.sub("\uff3f", value)
