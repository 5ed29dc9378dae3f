"""Durations and clock times as the runbook writes them ("5m", "1h30m", "17:00")."""

from __future__ import annotations

import re
from datetime import time, timedelta

_PART = re.compile(r"(\d+)\s*(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse "90s", "5m", "1h30m", "2d" into a timedelta; raise ValueError with what is accepted."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration; write e.g. 5m, 30m, 24h or 1h30m")
    pos = 0
    seconds = 0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or seconds <= 0:
        raise ValueError(f"not a duration: {text!r}; write e.g. 5m, 30m, 24h or 1h30m")
    return timedelta(seconds=seconds)


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


def parse_clock(text: str) -> time:
    """Parse "09:00" or "17:30" (24-hour) into a time."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError(f"not a time of day: {text!r}; write HH:MM in 24-hour form, e.g. 17:00")
    return time(int(match.group(1)), int(match.group(2)))
