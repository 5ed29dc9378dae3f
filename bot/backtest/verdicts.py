"""Red, amber or green for one backtest line, with the sentence that says why.

The history is taken as normal traffic: the weeks before the rollout, with nothing being changed.
- A trigger is **red** when it would have fired more than once a week, or at the same weekday and
  hour in different weeks (a batch job, not an incident); **amber** when it fired at all (check
  each firing against the incident log) or flapped; green otherwise.
- A gate check is **red** when it would have failed at its own time on a working day: the gate
  would have said NO on a normal day.
- An acceptance criterion is **amber** when it was already met on normal traffic before the change
  (it cannot show the step's effect).
- Any line is **red** when its condition could not be judged for 6 hours in a row, or for 2 % of
  the period in all: the check is blind. A metric without a single point in the period (one the
  rollout itself creates, such as a new replica's CPU) is amber: there is nothing to backtest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot.runbook.durations import format_duration

Colour = Literal["red", "amber", "green"]
BLIND_STRETCH = timedelta(hours=6)
BLIND_SHARE = 0.02


@dataclass(frozen=True)
class Facts:
    """What a verdict is judged on (filled in by bot/backtest/run.py)."""

    role: str
    text: str
    weeks: float
    period: timedelta
    unknown_share: float
    longest_blind: timedelta
    has_data: bool  # any point at all in the period
    fired: int
    flaps: int
    pattern: str | None
    gate_days_failed: int = 0
    gate_days: int = 0
    pass_share: float = 0.0


@dataclass(frozen=True)
class Verdict:
    colour: Colour
    reasons: tuple[str, ...]


def judge(facts: Facts) -> Verdict:
    red: list[str] = []
    amber: list[str] = []
    blind_for = facts.period * facts.unknown_share
    if not facts.has_data:  # e.g. the CPU of a replica the rollout itself creates: nothing to replay
        return Verdict("amber", (f"{facts.text} had no data at all in the period: nothing to backtest",))
    if facts.unknown_share >= BLIND_SHARE or facts.longest_blind >= BLIND_STRETCH:
        red.append(
            f"{facts.text} had no data {_pct(facts.unknown_share)} of the time "
            f"({format_duration(_minutes(blind_for))}): it is blind"
        )
    elif facts.unknown_share > 0:
        amber.append(f"no data {_pct(facts.unknown_share)} of the time")
    if facts.role in ("trigger", "rollback_if"):
        _trigger(facts, red, amber)
    elif facts.role == "gate" and facts.gate_days_failed:
        red.append(
            f"{facts.text} would have failed at its gate time on {facts.gate_days_failed} of {facts.gate_days} "
            "working days: the gate would have said NO on a normal day"
        )
    elif facts.role == "acceptance" and facts.pass_share >= 0.5:
        amber.append(
            f"already met {_pct(facts.pass_share)} of the time before any change: it cannot show the step's effect"
        )
    colour: Colour = "red" if red else "amber" if amber else "green"
    return Verdict(colour, tuple(red + amber))


def _trigger(facts: Facts, red: list[str], amber: list[str]) -> None:
    if not facts.fired:
        return
    times = "time" if facts.fired == 1 else "times"
    fired = f"{facts.text} would have fired {facts.fired} {times} in {facts.weeks:g} weeks"
    if facts.pattern is not None and facts.fired >= 2:
        red.append(f"{fired}, {facts.pattern}: a batch job?")
    elif facts.fired > max(1.0, facts.weeks):
        red.append(f"{fired}: more than once a week on normal traffic")
    else:
        amber.append(f"{fired}: check each against the incident log")
    if facts.flaps:
        amber.append(f"flapped {facts.flaps} {'time' if facts.flaps == 1 else 'times'} (fired and resolved quickly)")


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %" if share < 0.1 else f"{share * 100:.0f} %"


def _minutes(span: timedelta) -> timedelta:
    return timedelta(minutes=round(span.total_seconds() / 60))
