"""What a person enters when they press Done: "67%", "512 MiB", "1.2 GiB" or a link, read and judged.

Pure functions: a bad value is a sentence saying what the action expects, with an example; a
number in a unit of the same kind (GiB for MiB, s for ms) is converted to the action's unit.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.engine.errors import Refused
from bot.runbook.conditions import OPERATORS
from bot.runbook.models import Manual, ManualValue

# unit -> (kind, factor to the kind's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "%": ("percentage", 1.0),
    "ms": ("duration", 0.001),
    "s": ("duration", 1.0),
    "min": ("duration", 60.0),
    "h": ("duration", 3600.0),
    "B": ("size", 1.0),
    "KB": ("size", 1e3),
    "MB": ("size", 1e6),
    "GB": ("size", 1e9),
    "KiB": ("size", 1024.0),
    "MiB": ("size", 1024.0**2),
    "GiB": ("size", 1024.0**3),
    "count": ("count", 1.0),
    "rps": ("rate", 1.0),
}
_ALIASES = {"pct": "%", "percent": "%", "sec": "s", "m": "min", "mins": "min", "req/s": "rps", "": ""}
_NUMBER = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%/]*)$")
_LINK = re.compile(r"^https?://[^\s<>|]+$")
EXAMPLES = {"%": "67%", "ms": "42 ms", "MiB": "512 MiB", "MB": "0.8 MB", "link": "https://…", "count": "3"}


@dataclass(frozen=True)
class Entry:
    """One Done (or a failing value) as recorded: who, when, what they entered and how it was judged."""

    user_id: str
    name: str
    at: datetime
    text: str  # as shown: "67%" or the link; "" when the action asks for no value
    number: float | None
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(**{**data, "at": datetime.fromisoformat(data["at"])})


def example(value: ManualValue) -> str:
    return EXAMPLES.get(value.unit, f"12 {value.unit}")


def _unit(word: str) -> str | None:
    word = _ALIASES.get(word.lower(), word)
    return next((u for u in _UNITS if u.lower() == word.lower()), None) if word else ""


def read(value: ManualValue, text: str, usage: str) -> tuple[str, float | None]:
    """(as shown, number in ``value.unit``) or Refused saying what was expected."""
    text = text.strip()
    if value.unit == "link":
        if _LINK.match(text) is None:
            raise Refused(f"'{text}' is not a link; {value.name} wants one such as https://…: {usage}")
        return text, None
    match = _NUMBER.match(text.replace(",", ""))
    unit = _unit(match.group(2)) if match else None
    if match is None or unit is None:
        raise Refused(f"'{text}' is not a number in {value.unit}; write it like {example(value)}: {usage}")
    given = unit or value.unit
    kind, factor = _UNITS[given]
    want_kind, want_factor = _UNITS[value.unit]
    if kind != want_kind:
        raise Refused(
            f"'{text}' is a {kind}, but {value.name} is a {want_kind} in {value.unit}; "
            f"write it like {example(value)}: {usage}"
        )
    number = float(match.group(1)) * factor / want_factor
    return shown(number, value.unit), number


def judge(action: Manual, number: float | None) -> tuple[bool, str]:
    """Whether the entered number meets ``action.accept`` (no condition: any value passes)."""
    condition = action.accept
    if condition is None or number is None:
        return True, "recorded"
    limit = condition.threshold.value
    held = OPERATORS[condition.op](number, limit)
    shown = condition.text or str(condition)
    return held, (f"'{shown}' holds" if held else f"'{shown}' does not hold")


def shown(number: float, unit: str) -> str:
    """``67%``, ``512 MiB``, ``3``: a number as people write it in ``unit``."""
    if unit == "count":
        return _show(number)
    return f"{_show(number)}%" if unit == "%" else f"{_show(number)} {unit}"


def _show(number: float) -> str:
    return f"{number:.3f}".rstrip("0").rstrip(".")
