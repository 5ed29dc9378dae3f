"""What every cross-reference check reports: a Finding at a path into the runbook, and its phrases."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.runbook.models import Runbook, Step
from bot.runbook.suggest import did_you_mean

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """A problem at ``loc``; ``column`` is 1-based inside the scalar there; ``first`` is an earlier twin."""

    loc: Loc
    message: str
    column: int | None = None
    first: Loc | None = None


def steps_with_locs(runbook: Runbook) -> Iterator[tuple[Loc, Step]]:
    for d, day in enumerate(runbook.days):
        for s, step in enumerate(day.steps):
            yield ("days", d, "steps", s), step


def unknown(kind: str, name: str, known: Iterable[str], n: int = 1) -> str:
    return f"unknown {kind} '{name}'{did_you_mean(name, known, n=n)}"
