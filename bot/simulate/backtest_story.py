"""The demo team's backtest before a Go/No-Go that asks for one, and its answer to the red lines.

On-call runs ``/ion backtest`` on the morning of the gate; the gate's "triggers backtested" check
then lists the red lines the sim's history holds on purpose. The lead overrides that one check only
when every red line has a cause the team knows from its own traffic (the history's faults: the
Monday batch job, the day the lag exporter was down), and says so in the reason; a red line
nobody can explain is not waved through, so the gate stays red and the team decides NO.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.runbook.models import Gate, HealthCheck
from bot.sim.history import PastFault

WEEKS = 3  # two whole Mondays at least (the period starts at this hour): a weekly pattern, not one morning
RUNNER = "sre_oncall"  # who runs it: on-call owns the triggers
CHECK = "triggers_backtested"
VERDICT = "Thresholds kept, on-call briefed."


def backtest_check(gate: Gate) -> tuple[int, HealthCheck] | None:
    """The gate's "triggers backtested" check and its number on the card, if it has one."""
    return next(((n, c) for n, c in enumerate(gate.health_checks, 1) if c.counts == CHECK), None)


def answer(summary: Mapping[str, Any], known: Iterable[PastFault], zone: ZoneInfo) -> str | None:
    """The override's reason: each red condition with the known cause on its metric in the
    backtested period, then what the team does about it; None when a red line has no known cause."""
    red = [str(text) for text in summary.get("red_conditions") or []]
    if not red:
        return None
    start, end = (datetime.fromisoformat(str(summary[k])) for k in ("start", "end"))
    causes: dict[str, list[PastFault]] = defaultdict(list)
    for fault in known:
        if start <= fault.start < end:
            causes[fault.metric].append(fault)
    by_metric: dict[str, list[str]] = defaultdict(list)
    for condition in red:
        by_metric[condition.split()[0]].append(condition)
    if any(metric not in causes for metric in by_metric):
        return None
    said = [f"{' and '.join(conditions)}: {_cause(causes[metric], zone)}" for metric, conditions in by_metric.items()]
    return "Red lines known: " + "; ".join(said) + ". " + VERDICT


def _cause(faults: list[PastFault], zone: ZoneInfo) -> str:
    """ "batch job, every Monday 09:00-09:20" or "lag exporter down for a day, Wed 21 Oct 00:00"."""
    parts: list[str] = []
    for text in dict.fromkeys(f.text for f in faults):
        same = sorted((f for f in faults if f.text == text), key=lambda f: f.start)
        first, last = same[0].start.astimezone(zone), same[0].end.astimezone(zone)
        weekly = len(same) > 1 and len({f.start.astimezone(zone).strftime("%a %H:%M") for f in same}) == 1
        if weekly:
            parts.append(f"{text}, every {first:%A %H:%M}-{last:%H:%M}")
        else:
            parts.append(f"{text}, {', '.join(f'{f.start.astimezone(zone):%a %d %b %H:%M}' for f in same)}")
    return "; ".join(parts)
