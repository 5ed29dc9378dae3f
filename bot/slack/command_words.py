"""The words of `/ion` commands: ids, environments, dates, amounts, each read or refused in a sentence.

Pure syntax: whether a step, gate or runbook exists is the engine's question; here ids are well
formed, and the forgivable slips ("day 2.1", "prod") are fixed.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.runbook.suggest import did_you_mean
from bot.slack.command_types import DateRef, PersonRef

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
KNOWN_ENVIRONMENTS = ("staging", "production")
ENV_ALIASES = {"prod": "production", "prd": "production", "stage": "staging", "stg": "staging"}

_STEP_ID = re.compile(r"^day([0-9]{1,3})\.([0-9]{1,3})$")
_GATE_ID = re.compile(r"^(preflight|gonogo\.day[0-9]{1,3})$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_ITEM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_AMOUNT = re.compile(r"^\$?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]{1,2})?$")
DAY_NUMBER = re.compile(r"^(?:day)?([0-9]{1,3})$")


class BadWords(Exception):
    """A parse mistake in a sentence, turned into a ParseError (with the usage line) by ``parse``."""


def show(word: str) -> str:
    """A typed word echoed back, short enough for one line."""
    return word if len(word) <= 40 else word[:40] + "…"


def sentence(message: str) -> str:
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def merge_spaced_step_ids(words: list[str]) -> list[str]:
    """'day 2.1' -> 'day2.1', so a slip of the space bar is not an error."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i].lower() == "day" and i + 1 < len(words) and re.match(r"^[0-9]+(\.[0-9]+)?$", words[i + 1]):
            out.append("day" + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def step_id(word: str) -> str:
    lowered = word.lower()
    if re.match(r"^[0-9]+\.[0-9]+$", lowered):
        lowered = "day" + lowered
    match = _STEP_ID.match(lowered)
    if match:
        return f"day{int(match.group(1))}.{int(match.group(2))}"
    if re.match(r"^day[0-9]+$", lowered):
        raise BadWords(f"'{show(word)}' names a day, not a step; step ids look like {lowered}.1.")
    raise BadWords(f"'{show(word)}' is not a step id; step ids look like day2.1 (day number, dot, step number).")


def target_id(word: str) -> str:
    """A step id or a gate id (preflight, gonogo.day3)."""
    lowered = word.lower()
    if _GATE_ID.match(lowered):
        return lowered
    try:
        return step_id(word)
    except BadWords:
        raise BadWords(
            f"'{show(word)}' is neither a step id (like day2.1) nor a gate id (like preflight or gonogo.day3)."
        ) from None


def gate_id(word: str) -> str:
    lowered = word.lower()
    if _GATE_ID.match(lowered):
        return lowered
    match = DAY_NUMBER.match(lowered)
    if match:
        return f"gonogo.day{int(match.group(1))}"
    raise BadWords(f"'{show(word)}' is not a gate id; gate ids look like preflight or gonogo.day3 (or just day3).")


def environment(word: str) -> str:
    lowered = word.lower()
    if lowered in ENV_ALIASES:
        return ENV_ALIASES[lowered]
    if lowered in KNOWN_ENVIRONMENTS:
        return lowered
    hint = did_you_mean(lowered, KNOWN_ENVIRONMENTS)
    if hint:
        raise BadWords(f"unknown environment '{show(word)}'{hint}")
    if _NAME.match(lowered):
        return lowered  # a runbook may define more environments; the engine checks the name
    raise BadWords(f"'{show(word)}' is not an environment name; use staging or production.")


def date_ref(word: str) -> DateRef:
    lowered = word.lower()
    if lowered == "today":
        return DateRef()
    if lowered == "tomorrow":
        return DateRef(days_from_today=1)
    for i, day_name in enumerate(WEEKDAYS):
        if lowered in (day_name, day_name[:3]):
            return DateRef(weekday=i)
    if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", lowered):
        try:
            return DateRef(on=date.fromisoformat(lowered))
        except ValueError:
            raise BadWords(f"'{show(word)}' is not a real date; check the month and day.") from None
    raise BadWords(f"'{show(word)}' is not a date; use YYYY-MM-DD (2025-10-27), today, tomorrow or a weekday (monday).")


def dollars(word: str) -> Decimal:
    if not _AMOUNT.match(word):
        raise BadWords(f"'{show(word)}' is not an amount in dollars; write it like $950 or 950.00.")
    try:
        return Decimal(word.lstrip("$").replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise BadWords(f"'{show(word)}' is not an amount in dollars; write it like $950 or 950.00.") from None


def weeks(word: str) -> float:
    if not re.fullmatch(r"[0-9]{1,2}(\.[0-9])?", word) or not 0 < float(word) <= 13:
        raise BadWords(f"'{show(word)}' is not a number of weeks; give one from 1 to 13, e.g. 4.")
    return float(word)


def entry_count(word: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", word) or not 1 <= int(word) <= 500:
        raise BadWords(f"'{show(word)}' is not a number of entries; give a whole number from 1 to 500.")
    return int(word)


def plain_name(word: str, what: str) -> str:
    lowered = word.lower()
    if not _NAME.match(lowered):
        raise BadWords(f"'{show(word)}' is not a {what} name; use lower-case letters, digits, '-', '_' or '.'.")
    return lowered


def item_id(word: str) -> str:
    lowered = word.lower()
    if not _ITEM_ID.match(lowered):
        raise BadWords(f"'{show(word)}' is not a checklist item id; item ids look like pool-size or db_lag.")
    return lowered


_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^@?([UW][A-Z0-9]{2,})$")
_PERSON_NAME = re.compile(r"^@?([^\W_][\w.'-]{0,79})$")  # Slack's names: letters, digits, . _ - and '


def person(word: str) -> PersonRef:
    """A Slack user as a mention (``<@U123|lou>``, as Slack sends a picked @-mention), a user id, or a
    typed name (``@lou`` or ``lou``: Slack sends a typed mention as plain text), looked up later."""
    found = _MENTION.match(word) or _USER_ID.match(word)
    if found:
        return PersonRef(user_id=found.group(1))
    typed = _PERSON_NAME.match(word)
    if typed:
        return PersonRef(name=typed.group(1))
    raise BadWords(
        f"'{show(word)}' is not a person Slack can name; pick them from the @ menu (a mention), or type their "
        "Slack name (lou) or their user id."
    )


def role_id(word: str) -> str:
    return plain_name(word, "role")
