"""The console's own words: notes beside the bot's messages, a reply to one line, a refusal to start.

Kept apart so the session, the card actions and the simulation share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.console.feed import Entry


@dataclass(frozen=True)
class Note:
    """A line from the console itself (not the bot): help, a refusal to act, what happened."""

    text: str
    style: str = "yellow"


Output = Entry | Note


@dataclass
class Reply:
    outputs: list[Output] = field(default_factory=list)
    quit: bool = False


class ConsoleError(Exception):
    """Something the person must fix before the console can start; the message says what."""
