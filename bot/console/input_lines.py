"""What a person types into the console demo, read into typed lines the console runner acts on.

The console stands in for Slack: `/ion ...` is the slash command, `click` and `tick`
press the buttons and boxes of the last card, `as` switches who is typing, and
`advance` moves the virtual clock.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import time, timedelta

from bot.runbook.durations import parse_clock, parse_duration

CONSOLE_HELP = """\
/ion TEXT                 a slash command, e.g. /ion step day2.1
as NAME                   type as another person, e.g. as lee
click LABEL [@N]          press a button of the latest card (or of card N), e.g. click Approve
tick N [N ...]            tick (or untick) checkbox N of the latest card
type TEXT                 fill the open modal's text field and submit it
advance 2h                move the clock forward
advance to day3 17:00     move the clock to a day and time
help                      this list
quit                      leave"""


@dataclass(frozen=True)
class SlashLine:
    text: str  # what follows /ion


@dataclass(frozen=True)
class AsLine:
    name: str


@dataclass(frozen=True)
class ClickLine:
    label: str
    card: int | None = None  # @N: which card (as numbered on screen); None = the latest with that label


@dataclass(frozen=True)
class TickLine:
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class TypeLine:
    text: str


@dataclass(frozen=True)
class AdvanceBy:
    delta: timedelta


@dataclass(frozen=True)
class AdvanceTo:
    day: int | None  # None: today
    at: time


@dataclass(frozen=True)
class HelpLine:
    pass


@dataclass(frozen=True)
class QuitLine:
    pass


@dataclass(frozen=True)
class BlankLine:
    pass


@dataclass(frozen=True)
class UnknownLine:
    """A line we could not read; ``message`` says why and what to type instead."""

    text: str
    message: str


ConsoleLine = (
    SlashLine
    | AsLine
    | ClickLine
    | TickLine
    | TypeLine
    | AdvanceBy
    | AdvanceTo
    | HelpLine
    | QuitLine
    | BlankLine
    | UnknownLine
)

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_SHORT_HELP = "Type /ion help for bot commands, or help for console commands (click, tick, type, as, advance)."


def _unknown(line: str, message: str) -> UnknownLine:
    return UnknownLine(line, message)


def _click(line: str, rest: str) -> ConsoleLine:
    card: int | None = None
    match = re.fullmatch(r"(.*?)\s*@([0-9]{1,4})", rest)
    if match:
        rest, card = match.group(1), int(match.group(2))
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    label = " ".join(words)
    if not label:
        return _unknown(line, "click needs a button label, e.g. click Approve or click Run on staging @2.")
    if card is not None and card < 1:
        return _unknown(line, "Card numbers start at 1, e.g. click Approve @1.")
    return ClickLine(label, card)


def _tick(line: str, rest: str) -> ConsoleLine:
    words = rest.replace(",", " ").split()
    if not words or not all(re.fullmatch(r"[0-9]{1,3}", w) and int(w) >= 1 for w in words):
        return _unknown(line, "tick needs checkbox numbers as shown on the card, e.g. tick 3 or tick 1 2.")
    return TickLine(tuple(int(w) for w in words))


def _advance(line: str, rest: str) -> ConsoleLine:
    words = rest.lower().split()
    if words and words[0] == "to":
        day: int | None = None
        args = words[1:]
        if args and re.fullmatch(r"day[0-9]{1,3}", args[0]):
            day = int(args[0][3:])
            args = args[1:]
        if len(args) != 1:
            return _unknown(line, "advance to needs a time, e.g. advance to day3 17:00 or advance to 09:00.")
        try:
            return AdvanceTo(day, parse_clock(args[0]))
        except ValueError as error:
            return _unknown(line, f"{error}.")
    try:
        return AdvanceBy(parse_duration("".join(words)))
    except ValueError:
        return _unknown(line, "advance needs a duration such as 2h, 30m or 1d2h, or 'to day3 17:00'.")


def parse_console_line(line: str) -> ConsoleLine:
    """One typed line; never raises."""
    stripped = line.strip()
    if not stripped:
        return BlankLine()
    if stripped == "/ion" or stripped.startswith("/ion "):
        return SlashLine(stripped[4:].strip())
    if stripped.startswith("/"):
        return _unknown(stripped, f"The only slash command is /ion. {_SHORT_HELP}")
    word, _, rest = stripped.partition(" ")
    rest = rest.strip()
    verb = word.lower()
    if verb in ("help", "?"):
        return HelpLine()
    if verb in ("quit", "exit"):
        return QuitLine()
    if verb == "as":
        name = rest.lower().lstrip("@")
        if not _NAME.match(name):
            return _unknown(stripped, "as needs a person's name, e.g. as lee.")
        return AsLine(name)
    if verb == "click":
        return _click(stripped, rest)
    if verb == "tick":
        return _tick(stripped, rest)
    if verb == "type":
        if not rest:
            return _unknown(stripped, "type needs the text to enter, e.g. type ion-mentoring-api.")
        return TypeLine(rest)
    if verb == "advance":
        return _advance(stripped, rest)
    return _unknown(stripped, f"I don't know '{word[:40]}'. {_SHORT_HELP}")
