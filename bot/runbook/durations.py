"""Durations and clock times as the runbook writes them ("5m", "1h30m", "17:00")."""

from __future__ import annotations

import math
import re
from datetime import time, timedelta

_PART = re.compile(r"(\d+)\s*(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_HINT = "write e.g. 5m, 30m, 24h or 1h30m"

# Longer than any rollout calendar (366 working days at most), and far from timedelta's and
# datetime's limits, so "now - window" can never overflow while a run is being watched.
MAX_DURATION = timedelta(days=366)
_MAX_WRITTEN = "366d"


def parse_duration(text: str) -> timedelta:
    """Parse "90s", "5m", "1h30m", "2d" into a timedelta; raise ValueError with what is accepted."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise ValueError(f"empty duration; {_HINT}")
    pos = 0
    seconds = 0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        digits = match.group(1).lstrip("0") or "0"
        if len(digits) > 12:  # far beyond MAX_DURATION in any unit; int() of thousands of digits refuses
            raise ValueError(f"duration {_quoted(text)} is longer than {_MAX_WRITTEN}; {_HINT}")
        seconds += int(digits) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or seconds <= 0:
        raise ValueError(f"not a duration: {_quoted(text)}; {_HINT}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {_quoted(text)} is longer than {_MAX_WRITTEN}; {_HINT}")
    return timedelta(seconds=seconds)


def duration_from_seconds(value: float) -> timedelta:
    """A YAML number as a duration in seconds: finite, positive and at most MAX_DURATION."""
    if (isinstance(value, float) and not math.isfinite(value)) or value <= 0:  # NaN and inf are floats
        raise ValueError(f"a duration must be a positive length of time; {_HINT}")
    if value > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration must be at most {_MAX_WRITTEN}; a bare number counts seconds; {_HINT}")
    return timedelta(seconds=value)


def _quoted(text: str) -> str:
    """The text as written, cut short when it is long enough to drown the message."""
    return repr(text) if len(text) <= 30 else f"{text[:12]!r}... ({len(text)} characters)"


def format_duration(value: timedelta) -> str:
    """Render a timedelta the way the runbook writes it ("1h30m")."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        if unit != "d" and seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


_CLOCK_HINT = "write HH:MM in 24-hour form, e.g. 17:00"


def parse_clock(text: str) -> time:
    """Parse "09:00" or "17:30" (24-hour) into a time."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError(f"not a time of day: {_quoted(text)}; {_CLOCK_HINT}")
    return time(int(match.group(1)), int(match.group(2)))


def clock_from_minutes(minutes: int) -> time:
    """YAML 1.1 reads an unquoted 17:00 as the sexagesimal integer 1020; only 00:00-23:59 is a time."""
    if not 0 <= minutes < 24 * 60:
        raise ValueError(f"not a time of day; {_CLOCK_HINT}")
    return time(minutes // 60, minutes % 60)
