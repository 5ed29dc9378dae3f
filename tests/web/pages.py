"""Reading what the timeline pages say, for the tests: bars and marks by their data attributes."""

from __future__ import annotations

import re
from datetime import datetime

BAR = re.compile(
    r'<a class="bar[^"]*"[^>]*data-step="(?P<step>[^"]+)" data-env="(?P<env>[^"]+)" data-state="(?P<state>[^"]+)"\s*'
    r'data-start="(?P<start>[^"]+)" data-end="(?P<end>[^"]+)"'
)
MARK = re.compile(
    r'<span class="mark mark-(?P<kind>[a-z]+)"[^>]*data-at="(?P<at>[^"]+)"(?: data-step="(?P<step>[^"]+)")? '
    r'data-who="(?P<who>[^"]*)"'
)


def bars(html: str) -> dict[tuple[str, str], tuple[str, datetime, datetime]]:
    return {
        (m["step"], m["env"]): (m["state"], datetime.fromisoformat(m["start"]), datetime.fromisoformat(m["end"]))
        for m in BAR.finditer(html)
    }


def marks(html: str, kind: str) -> list[tuple[datetime, str | None, str]]:
    return [(datetime.fromisoformat(m["at"]), m["step"], m["who"]) for m in MARK.finditer(html) if m["kind"] == kind]
